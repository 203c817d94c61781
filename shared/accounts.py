"""Structures and aidants as the API shows them, and how they are created."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from . import crypto, emails, errors, otp, stats
from .sessions import Caller
from .store import (Aidant, EmailClaim, Membership, Structure, now,
                    transaction, writes)


def describe_caller(caller: Caller) -> dict:
    aidant = caller.aidant
    structures = {s.id: s for s in Structure.batch_get(
        [Structure.key(sid) for sid in sorted(aidant.structure_ids or ())])}
    current = structures.get(caller.structure_id)
    return {
        "aidant": {"id": aidant.id, "first_name": aidant.first_name, "last_name": aidant.last_name,
                   "email": aidant.email, "is_referent": bool(aidant.referent_of),
                   "is_staff": bool(aidant.is_staff)},
        "structure": structure_summary(current) if current else None,
        "structures": [structure_summary(s) for s in structures.values() if s.is_active],
    }


def structure_summary(structure: Structure) -> dict:
    return {"id": structure.id, "name": structure.name, "siret": structure.siret,
            "address": structure.address}


def new_structure(name: str, siret: str, address: str, structure_id: str | None = None,
                  structure_type: str | None = None) -> Structure:
    structure_id = structure_id or crypto.new_id()
    pk, sk = Structure.key(structure_id)
    structure = Structure(pk=pk, sk=sk, id=structure_id, name=name, siret=siret, address=address,
                          structure_type=structure_type, is_active=True, gsi1pk=f"SIRET#{siret}",
                          gsi1sk="STRUCTURE", created_at=now())
    structure.list_keys()
    return structure


def write_new_structure(tx, structure: Structure) -> None:
    """The structure, in the caller's transaction, and the public count of structures."""
    tx.save(structure, condition=Structure.pk.does_not_exist())
    stats.structure_opened().write(tx, structure.id)


def create_structure(structure: Structure) -> Structure:
    with transaction() as tx:
        write_new_structure(tx, structure)
    return structure


def ensure_structure(structure: Structure) -> Structure:
    """Create it unless a structure with its id exists (demo data, set-ups run twice)."""
    try:
        return create_structure(structure)
    except TransactWriteError as exc:
        if not writes.is_condition_failure(exc):
            raise
        return Structure.get(*Structure.key(structure.id))


def create_aidant(email: str, first_name: str, last_name: str, structure_ids: list[str],
                  *, profession: str | None = None, referent_of: list[str] = (),
                  aidant_id: str | None = None, is_active: bool = True,
                  device_kind: str | None = "app", totp_secret: str | None = None,
                  card_serial: str | None = None) -> tuple[Aidant, str | None]:
    """Create an aidant, the claim on their e-mail, memberships and (optionally) a TOTP
    device, all or nothing. Returns the aidant and the clear TOTP seed (if any).
    The e-mail is stored and claimed in its normal form (``shared.emails``), the form
    login looks it up by."""
    email = emails.normalize(email)
    aidant_id = aidant_id or crypto.new_id()
    pk, sk = Aidant.key(aidant_id)
    aidant = Aidant(pk=pk, sk=sk, id=aidant_id, email=email, first_name=first_name,
                    last_name=last_name, profession=profession, structure_ids=set(structure_ids),
                    current_structure_id=structure_ids[0] if structure_ids else None,
                    referent_of=set(referent_of), is_active=is_active, created_at=now())
    claim = EmailClaim(*EmailClaim.key(email), aidant_id=aidant_id)
    device, secret = (otp.new_device(aidant_id, device_kind, secret=totp_secret, serial=card_serial)
                      if device_kind else (None, None))
    with transaction() as tx:
        tx.save(aidant, condition=Aidant.pk.does_not_exist())
        tx.save(claim, condition=EmailClaim.pk.does_not_exist())
        for sid in structure_ids:
            tx.save(Membership(f"STRUCTURE#{sid}", f"AIDANT#{aidant_id}", structure_id=sid,
                               aidant_id=aidant_id))
        if device is not None:
            tx.save(device)
        stats.aidant_activity(False, is_active).write(tx, aidant_id)
    return aidant, secret


def find_aidant_by_email(email: str) -> Aidant | None:
    try:
        email = emails.normalize(email)
    except errors.BadRequest:
        return None  # not an address: nobody's
    try:
        claim = EmailClaim.get(*EmailClaim.key(email))
        return Aidant.get(*Aidant.key(claim.aidant_id))
    except EmailClaim.DoesNotExist:
        return None
    except Aidant.DoesNotExist:
        return None
