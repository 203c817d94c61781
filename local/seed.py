"""Demo data, created idempotently: ``python -m local seed --json``.

Each step creates what is missing and returns its part of the JSON that docs/architecture.md §6
describes. Later capabilities add their own step to ``STEPS``.
"""

from __future__ import annotations

from shared import accounts, crypto, otp
from shared.config import settings
from shared.store import Aidant, Structure

STRUCTURE_A = (
    "demo-structure-a",
    "France Services Grand Soissons",
    "80204022000019",
    "1 rue de la République, 02200 Soissons",
)
STRUCTURE_B = ("demo-structure-b", "Médiathèque de Laon", "21020408000015", "4 place Aubry, 02000 Laon")
# (id, e-mail, first name, last name, structures, référent?)
AIDANTS = [
    ("demo-aidant", "camille.fwolk@demo.aidantsconnect.fr", "Camille", "Fwolk", [STRUCTURE_A[0]], False),
    ("demo-referent", "mario.rossi@demo.aidantsconnect.fr", "Mario", "Rossi", [STRUCTURE_A[0]], True),
    ("demo-aidant-b", "pascal.martin@demo.aidantsconnect.fr", "Pascal", "Martin", [STRUCTURE_B[0]], False),
    # Works in both: the France Services three days a week, the médiathèque two.
    (
        "demo-aidant-ab",
        "lea.dubreuil@demo.aidantsconnect.fr",
        "Léa",
        "Dubreuil",
        [STRUCTURE_A[0], STRUCTURE_B[0]],
        False,
    ),
]


def _structure(sid, name, siret, address) -> Structure:
    try:
        return Structure.get(*Structure.key(sid))
    except Structure.DoesNotExist:
        return accounts.ensure_structure(accounts.new_structure(name, siret, address, structure_id=sid))


def totp_secret_of(aidant_id: str) -> str | None:
    _, devices = otp.devices_of(aidant_id)
    for device in devices:
        return crypto.unseal(device.sealed_secret, device.sk)
    return None


def seed_accounts(out: dict) -> None:
    for spec in (STRUCTURE_A, STRUCTURE_B):
        _structure(*spec)
    secrets = {}
    for aid, email, first, last, sids, referent in AIDANTS:
        try:
            Aidant.get(*Aidant.key(aid))
        except Aidant.DoesNotExist:
            accounts.create_aidant(
                email,
                first,
                last,
                sids,
                aidant_id=aid,
                referent_of=sids if referent else [],
                profession="Conseiller France Services",
            )
        secrets[aid] = totp_secret_of(aid)
    out["structure"] = {"id": STRUCTURE_A[0], "name": STRUCTURE_A[1]}
    out["aidant"] = {"id": AIDANTS[0][0], "email": AIDANTS[0][1], "totp_secret": secrets[AIDANTS[0][0]]}
    out["referent"] = {"id": AIDANTS[1][0], "email": AIDANTS[1][1], "totp_secret": secrets[AIDANTS[1][0]]}
    out["other_structure"] = {
        "id": STRUCTURE_B[0],
        "name": STRUCTURE_B[1],
        "aidant": {"id": AIDANTS[2][0], "email": AIDANTS[2][1], "totp_secret": secrets[AIDANTS[2][0]]},
    }
    aid, email, *_, sids, _ = AIDANTS[3]
    out["aidant_of_both_structures"] = {
        "id": aid,
        "email": email,
        "totp_secret": secrets[aid],
        "structures": list(sids),
    }


def seed_mandates(out: dict) -> None:
    """The FranceConnect stand-in's identities, and a usager (Angela, as the stand-in
    identifies her) with an active mandate of the demo structure."""
    from shared import documents, mandates

    from .franceconnect.identities import IDENTITIES, sub_for

    out["fc_identities"] = list(IDENTITIES)
    if out.get("usager") is not None:
        return
    sub = sub_for("angela", settings().franceconnect_client_id)
    usager = mandates.upsert_usager(sub, IDENTITIES["angela"])
    out["usager"] = {"id": usager.id, "sub": sub}
    active = mandates.active_autorisations_of_usager(STRUCTURE_A[0], usager.id)
    if active:
        out["mandate"] = {"id": active[0].mandate_id}
        return
    aidant_id, _, first, last, (sid,), _ = AIDANTS[0]
    mandate = mandates.create(
        mandates.NewMandate(
            structure_id=sid,
            usager=usager,
            demarches=["papiers", "famille", "social", "argent"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id=aidant_id,
            aidant_name=f"{first} {last}",
            text_snapshot=documents.mentions_text(STRUCTURE_A[1]),
        )
    )
    out["mandate"] = {"id": mandate.id}


STEPS = [seed_accounts, seed_mandates]


def seed_fi_demo(out: dict) -> None:
    """The demo FranceConnect client of our identity provider (``local/fi_demo.py``)."""
    from . import fi_demo

    fi_demo.seed(out)


STEPS.append(seed_fi_demo)


def seed_referent_space(out: dict) -> None:
    """Staff account, training marks, demo OTP cards (``local/referent_demo.py``)."""
    from . import referent_demo

    referent_demo.seed(out)


STEPS.append(seed_referent_space)


def seed_sandbox(out: dict) -> None:
    """The training sandbox has no demo accounts (trainees sign up), only the demo
    site's registration as a client of its identity provider."""
    from . import fi_demo
    from .franceconnect.identities import IDENTITIES

    out["client"] = fi_demo.register_client()
    out["fc_identities"] = list(IDENTITIES)
    out["sandbox"] = True


def seed_cgu(out: dict) -> None:
    """The demo accounts have accepted the terms of use in force (journaled as
    recorded by the seed), so that they can act at once; a new version of the terms
    is accepted by the next seed."""
    from shared import cgu

    from . import referent_demo

    for aid in [a[0] for a in AIDANTS] + [referent_demo.STAFF[0]]:
        aidant = Aidant.find(aid)
        if aidant is not None and not cgu.has_accepted(aidant):
            cgu.record_acceptance(
                aidant, cgu.current_version(), structure_id=aidant.current_structure_id, via="local seed"
            )
    out["cgu_version"] = cgu.current_version()


STEPS.append(seed_cgu)


def run() -> dict:
    out = {
        "issuer": settings().issuer,
        "client": None,
        "aidant": None,
        "usager": None,
        "mandate": None,
        "fc_identities": [],
    }
    for step in [seed_sandbox] if settings().sandbox else STEPS:
        step(out)
    return out
