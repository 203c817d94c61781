"""The FranceConnect stand-in's test identities (identité pivot, as FranceConnect
returns it: given names space-separated, birthplace and birthcountry as INSEE codes,
birthplace empty for people born abroad)."""

from __future__ import annotations

from shared.sandbox.identities import IDENTITIES as SITUATIONS
from shared.sandbox.identities import sub_for as sub_for  # re-exported

# The training situations' people first (Angela Claire Louise DUBOIS…: the sandbox's
# usagers, shared/sandbox/identities.py), then a few more to try things with.
IDENTITIES: dict[str, dict] = {
    **SITUATIONS,
    "pierre": {
        "given_name": "Pierre",
        "family_name": "MERCIER",
        "preferred_username": "",
        "birthdate": "1969-03-17",
        "gender": "male",
        "birthplace": "02691",
        "birthcountry": "99100",
        "email": "pierre.mercier@example.fr",
        "idp": "ameli.fr",
    },
    "fatou": {
        "given_name": "Fatou",
        "family_name": "DIALLO",
        "preferred_username": "MARTIN",
        "birthdate": "1985-11-02",
        "gender": "female",
        "birthplace": "",
        "birthcountry": "99341",
        "email": "fatou.diallo@example.fr",
        "idp": "La Poste",
    },
    "eloise": {
        "given_name": "Éloïse Marie-Thérèse",
        "family_name": "LEFÈVRE-N'DIAYE",
        "preferred_username": "",
        "birthdate": "1948-02-29",
        "gender": "female",
        "birthplace": "02408",
        "birthcountry": "99100",
        "email": "eloise.lefevre@example.fr",
        "idp": "MSA",
    },
}

PIVOT_CLAIMS = (
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
)


def claims_for(key: str, scopes: set[str]) -> dict:
    identity = IDENTITIES[key]
    return {name: identity[name] for name in PIVOT_CLAIMS if name in scopes}
