"""Physical OTP cards: import from the supplier's file, link, validate, unlink.

A card is a TOTP token with a 60-second step whose seed the supplier gives us with
its serial number. Staff import the file; each card waits in stock until a
référent links it to an aidant by its serial. Linking creates an *unconfirmed*
device (``shared.otp.consume`` ignores those, so the card cannot log in yet); the
référent then types the code the card shows, which proves the card is in their
hands and only then confirms the device. Unlinking removes the device at once: the
card's codes are refused from the next request on.

Confirmation codes are checked here rather than by ``otp.consume`` (which only
knows confirmed devices), with the same replay rule (a strictly greater time step,
conditional write) and a brute-force throttle per device.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from dataclasses import dataclass

import pyotp

from . import crypto, errors, journal, otp
from . import error_codes as codes
from .config import settings
from .store import LoginThrottle, OtpCard, TotpDevice, now, writes

SERIAL_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{2,63}")
MIN_SEED_BYTES = 16  # RFC 4226 §4 R6: at least 128 bits of shared secret
MAX_IMPORT = 200  # cards per import request: one conditional write each, so bounded
SEED_ENCODINGS = ("hex", "base32")

CARDS_IMPORTED = "otp_cards_imported"
CARD_LINKED = "otp_card_linked"
CARD_UNLINKED = "otp_card_unlinked"
DEVICE_CONFIRMED = "otp_device_confirmed"
DEVICE_CONFIRMATION_FAILED = "otp_device_confirmation_failed"


# -- import ---------------------------------------------------------------------------


def normalise_serial(value: object) -> str:
    if not isinstance(value, str):
        raise errors.BadRequest("Merci d'indiquer le numéro de série de la carte.", code=codes.INVALID_SERIAL)
    serial = value.strip().upper().replace(" ", "")
    if not SERIAL_RE.fullmatch(serial):
        raise errors.BadRequest("Ce numéro de série n'est pas valide.", code=codes.INVALID_SERIAL)
    return serial


def seed_to_base32(seed: object, encoding: str) -> str:
    """The supplier's seed (hexadecimal by default, as hardware token files give it)
    as the base32 pyotp expects; refuses seeds too short to be secret."""
    if not isinstance(seed, str) or not seed.strip():
        raise ValueError("graine manquante")
    text = seed.strip().replace(" ", "")
    if encoding == "hex":
        raw = binascii.unhexlify(text)  # ValueError / binascii.Error on bad input
    else:
        padded = text.upper() + "=" * (-len(text) % 8)
        raw = base64.b32decode(padded)
    if len(raw) < MIN_SEED_BYTES:
        raise ValueError("graine trop courte")
    return base64.b32encode(raw).decode().rstrip("=")


def parse_csv(text: str) -> list[dict]:
    """``serial,seed`` lines (``;`` also accepted), with or without a header line."""
    rows: list[dict] = []
    sample = text[:1024]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    for line in csv.reader(io.StringIO(text), delimiter=delimiter):
        cells = [c.strip() for c in line]
        if not any(cells):
            continue
        if len(cells) < 2:
            raise errors.BadRequest(
                f"Ligne incomplète dans le fichier : « {delimiter.join(cells)[:40]} ».", code=codes.INVALID_FILE
            )
        if not rows and any(word in cells[0].lower() for word in ("serial", "série", "serie", "numéro", "numero")):
            continue  # header
        rows.append({"serial": cells[0], "seed": cells[1]})
    return rows


@dataclass
class ImportResult:
    imported: list[str]
    duplicates: list[str]
    invalid: list[dict]

    def as_dict(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "invalid": self.invalid}


def stock_card(serial: str, seed_base32: str, structure_id: str | None, at=None) -> OtpCard:
    """A card in stock, its seed sealed, not yet written (``serial`` normalised)."""
    sealed = crypto.seal(seed_base32, OtpCard.key(serial)[0])
    return OtpCard.new_in_stock(
        serial, sealed_seed=sealed, structure_id=structure_id, last_step=0, created_at=at or now()
    )


def import_cards(rows: list[dict], *, encoding: str, structure_id: str | None, actor_id: str) -> ImportResult:
    """Put each card in stock, once: an existing serial is reported, never overwritten
    (re-importing a file cannot reset a card in use)."""
    if encoding not in SEED_ENCODINGS:
        raise errors.BadRequest("Encodage de graine inconnu (hex ou base32).", code=codes.INVALID_ENCODING)
    if not rows:
        raise errors.BadRequest("Aucune carte à importer.", code=codes.INVALID_FILE)
    if len(rows) > MAX_IMPORT:
        raise errors.BadRequest(f"Importez au plus {MAX_IMPORT} cartes à la fois.", code=codes.TOO_MANY_CARDS)
    result = ImportResult([], [], [])
    at = now()
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            result.invalid.append({"line": index, "reason": "ligne invalide"})
            continue
        try:
            serial = normalise_serial(row.get("serial"))
            seed = seed_to_base32(row.get("seed"), encoding)
        except (errors.BadRequest, ValueError, binascii.Error) as exc:
            result.invalid.append({"line": index, "reason": str(exc)[:80]})
            continue
        if writes.put_new(stock_card(serial, seed, structure_id, at)):
            result.imported.append(serial)
        else:
            result.duplicates.append(serial)
    journal.record(
        CARDS_IMPORTED,
        aidant_id=actor_id,
        structure_id=structure_id,
        details={
            "imported": len(result.imported),
            "duplicates": len(result.duplicates),
            "invalid": len(result.invalid),
        },
    )
    return result


def in_stock(limit: int = 100, lost: bool = False) -> list[OtpCard]:
    return OtpCard.shelf(lost, limit)


def card_view(card: OtpCard) -> dict:
    return {
        "serial": card.serial,
        "status": card.status,
        "structure_id": card.structure_id,
        "aidant_id": card.aidant_id,
        "confirmed": card.confirmed_at is not None,
    }


# -- linking ---------------------------------------------------------------------------


def get_card(serial: str) -> OtpCard | None:
    return OtpCard.find(serial)


def linkable_card(serial: str, structure_id: str) -> OtpCard:
    """The card to link, or why not. A card reserved for another structure answers
    like an unknown one: serials are printed on cards, not secrets, but a référent
    learns nothing about other structures' kits."""
    card = get_card(serial)
    if card is None or (card.structure_id and card.structure_id != structure_id):
        raise errors.NotFound("Aucune carte disponible ne porte ce numéro de série.", code=codes.UNKNOWN_CARD)
    if card.status == "lost":
        raise errors.Conflict("Cette carte a été déclarée perdue : elle ne peut plus être liée.", code=codes.CARD_LOST)
    if card.status != "stock":
        raise errors.Conflict("Cette carte est déjà liée à un aidant.", code=codes.CARD_TAKEN)
    return card


def new_card_device(card: OtpCard, aidant_id: str) -> TotpDevice:
    seed = crypto.unseal(card.sealed_seed, card.pk)
    device, _ = otp.new_device(aidant_id, "card", secret=seed, serial=card.serial, confirmed=False)
    device.last_step = int(card.last_step or 0)  # a previous holder's codes stay used
    return device


def link_actions(card: OtpCard, device: TotpDevice, structure_id: str):
    """The card's side of a link, for the caller's transaction: only from stock."""
    actions = [
        OtpCard.status.set("assigned"),
        OtpCard.aidant_id.set(device.aidant_id),
        OtpCard.device_id.set(device.device_id),
        OtpCard.linked_in.set(structure_id),
        OtpCard.assigned_at.set(now()),
        *OtpCard.off_shelf_actions(),
    ]
    return actions, (OtpCard.status == "stock")


def unlink_actions(card: OtpCard, device: TotpDevice | None, lost: bool):
    last_step = max(int(card.last_step or 0), int(device.last_step or 0) if device else 0)
    actions = [
        OtpCard.status.set("lost" if lost else "stock"),
        OtpCard.aidant_id.remove(),
        OtpCard.device_id.remove(),
        OtpCard.linked_in.remove(),
        OtpCard.assigned_at.remove(),
        OtpCard.confirmed_at.remove(),
        OtpCard.last_step.set(last_step),
        *OtpCard.on_shelf_actions(card.serial, lost),
    ]
    return actions, (OtpCard.status == "assigned") & (OtpCard.aidant_id == card.aidant_id)


# -- confirming a device (card or app) ---------------------------------------------------


def _digits(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    code = code.strip().replace(" ", "")
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


def _throttle(device: TotpDevice) -> otp.Throttle:
    return otp.Throttle(LoginThrottle.key(crypto.keyed_hash(device.device_id, "device-confirmation")))


def confirmation_step(device: TotpDevice, code: object, *, actor_id: str, structure_id: str) -> int:
    """The time step the code matches, or 403 (wrong code) / 429 (too many wrong codes).

    Six digits are a million guesses: after ``OTP_MAX_FAILURES`` wrong codes the
    device is locked for ``OTP_LOCKOUT_SECONDS``, as logins are."""
    throttle = _throttle(device)
    attempt = throttle.admit(otp.LOCKED_MESSAGE)
    digits = _digits(code)
    step = None
    if digits is not None:
        try:
            step = otp.totp_for(device).verify_and_get_timecode(digits, valid_window=settings().otp_valid_window)
        except pyotp.exceptions.OTPVerificationError:
            step = None
    if step is None or step <= int(device.last_step or 0):
        throttle.record_failure(attempt)
        journal.record(
            DEVICE_CONFIRMATION_FAILED,
            aidant_id=actor_id,
            structure_id=structure_id,
            details={"target_aidant": device.aidant_id, "kind": device.device_kind},
        )
        raise errors.Forbidden("Le code à 6 chiffres est incorrect ou a déjà été utilisé.", code=codes.INVALID_OTP)
    throttle.clear()
    return step


def confirm_actions(device: TotpDevice, step: int):
    """The device's side of a confirmation: only an unconfirmed device, only a step
    after the last one used (a concurrent confirmation with the same code loses)."""
    actions = [TotpDevice.confirmed.set(True), TotpDevice.last_step.set(step), TotpDevice.last_used_at.set(now())]
    condition = TotpDevice.pk.exists() & (TotpDevice.confirmed == False) & (TotpDevice.last_step < step)  # noqa: E712
    return actions, condition
