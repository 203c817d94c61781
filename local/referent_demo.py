"""Demo data of the référent space and accreditation (``python -m local seed``):

* a staff account (``equipe@demo.aidantsconnect.fr``) in its own structure, with an
  app TOTP like the other demo accounts;
* training marks for the demo aidants, so a référent may deactivate and reactivate
  them (activation needs training and a confirmed card or app);
* a few OTP cards in stock, reserved for the demo structure, whose seeds are derived
  from their serials (demo only: real seeds come from the supplier's file), each
  written with its journal entry.
"""

from __future__ import annotations

import base64
import hashlib

import pyotp

from shared import accounts, cards, crypto, errors, journal, otp
from shared.store import Aidant, OtpCard, Structure, Training, now, transaction

STAFF_STRUCTURE = ("demo-equipe", "Équipe Aidants Connect (ANCT)", "13002603200016", "20 avenue de Ségur, 75007 Paris")
STAFF = ("demo-staff", "equipe@demo.aidantsconnect.fr", "Estelle", "Équipe")
TRAINED = ("demo-aidant", "demo-referent", "demo-aidant-b", "demo-aidant-ab")
CARD_STRUCTURE = "demo-structure-a"
CARD_SERIALS = ("DEMO0000000001", "DEMO0000000002", "DEMO0000000003")


def demo_seed(serial: str) -> str:
    return (
        base64.b32encode(hashlib.sha256(f"aidants-connect-demo-card:{serial}".encode()).digest()[:20])
        .decode()
        .rstrip("=")
    )


def card_code(serial: str) -> str:
    """What the demo card shows now (60-second step)."""
    return pyotp.TOTP(demo_seed(serial), interval=otp.CARD_INTERVAL).now()


def _secret_of(aidant_id: str) -> str | None:
    _, devices = otp.devices_of(aidant_id)
    return crypto.unseal(devices[0].sealed_secret, devices[0].sk) if devices else None


def _stock_demo_card(serial: str, actor_id: str) -> None:
    """The card and its journal entry in one write. Written one after the other, a
    Ctrl-C between them left cards nobody journaled, and the next seed, which skips
    the cards that exist, never journaled them."""
    try:
        with transaction(errors.Conflict()) as tx:
            tx.save(cards.stock_card(serial, demo_seed(serial), CARD_STRUCTURE), condition=OtpCard.pk.does_not_exist())
            tx.save(
                journal.entry(
                    cards.CARDS_IMPORTED,
                    aidant_id=actor_id,
                    structure_id=CARD_STRUCTURE,
                    details={"imported": 1, "duplicates": 0, "invalid": 0, "serials": serial},
                ),
                condition=journal.append_condition(),
            )
    except errors.Conflict:
        pass  # another seed stocked it meanwhile


def seed(out: dict) -> None:
    sid, name, siret, address = STAFF_STRUCTURE
    try:
        Structure.get(*Structure.key(sid))
    except Structure.DoesNotExist:
        accounts.ensure_structure(
            accounts.new_structure(name, siret, address, structure_id=sid, structure_type="service_public")
        )
    aid, email, first, last = STAFF
    try:
        staff = Aidant.get(*Aidant.key(aid))
    except Aidant.DoesNotExist:
        staff, _ = accounts.create_aidant(email, first, last, [sid], aidant_id=aid, profession="Chargée de déploiement")
    if not staff.is_staff:
        staff.update(actions=[Aidant.is_staff.set(True)])
    for aidant_id in TRAINED + (aid,):
        pk, sk = Training.key(aidant_id)
        Training(
            pk, sk, aidant_id=aidant_id, trained_on="2024-01-15", pix_passed=True, marked_by=aid, created_at=now()
        ).save()
    for serial in CARD_SERIALS:
        if cards.get_card(serial) is None:
            _stock_demo_card(serial, aid)
    out["staff"] = {"id": aid, "email": email, "totp_secret": _secret_of(aid)}
    out["cards"] = [{"serial": s, "seed": demo_seed(s)} for s in CARD_SERIALS]
