"""The people of the training situations as FranceConnect identifies them (identité
pivot: given names space-separated, birthplace and birthcountry as INSEE codes).

The FranceConnect stand-in offers them (``local/franceconnect``), and the sandbox's
starting situations create their usagers with the ``sub`` the stand-in gives them
(:func:`sub_for`), so that a trainee who renews Rosalie's mandate through
FranceConnect finds the Rosalie of their own structure. All of them are fictitious.
"""

from __future__ import annotations

import hashlib

IDENTITIES: dict[str, dict] = {
    "angela": {
        "given_name": "Angela Claire Louise",
        "family_name": "DUBOIS",
        "preferred_username": "",
        "birthdate": "1962-08-24",
        "gender": "female",
        "birthplace": "75107",
        "birthcountry": "99100",
        "email": "angela.dubois@example.fr",
        "idp": "impots.gouv.fr",
    },
    "rosalie": {
        "given_name": "Rosalie",
        "family_name": "BERNARD",
        "preferred_username": "",
        "birthdate": "1963-05-14",
        "gender": "female",
        "birthplace": "59350",
        "birthcountry": "99100",
        "email": "rosalie.bernard@example.fr",
        "idp": "ameli.fr",
    },
    "michel": {
        "given_name": "Michel Jean",
        "family_name": "PETIT",
        "preferred_username": "",
        "birthdate": "1959-11-03",
        "gender": "male",
        "birthplace": "02722",
        "birthcountry": "99100",
        "email": "michel.petit@example.fr",
        "idp": "impots.gouv.fr",
    },
    "jordy": {
        "given_name": "Jordy",
        "family_name": "LAMBERT",
        "preferred_username": "",
        "birthdate": "2001-07-21",
        "gender": "male",
        "birthplace": "02408",
        "birthcountry": "99100",
        "email": "jordy.lambert@example.fr",
        "idp": "La Poste",
    },
    "florence": {
        "given_name": "Florence Anne",
        "family_name": "GIRARD",
        "preferred_username": "MOREAU",
        "birthdate": "1979-01-30",
        "gender": "female",
        "birthplace": "75115",
        "birthcountry": "99100",
        "email": "florence.girard@example.fr",
        "idp": "ameli.fr",
    },
    "jimmy": {
        "given_name": "Jimmy",
        "family_name": "ROUX",
        "preferred_username": "",
        "birthdate": "2006-02-11",
        "gender": "male",
        "birthplace": "02168",
        "birthcountry": "99100",
        "email": "jimmy.roux@example.fr",
        "idp": "impots.gouv.fr",
    },
}


def sub_for(key: str, client_id: str) -> str:
    """FranceConnect gives each service provider its own stable ``sub`` per person
    (the stand-in's rule, shared so that situations and stand-in agree)."""
    return hashlib.sha256(f"{client_id}:{key}".encode()).hexdigest()
