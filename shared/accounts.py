"""Structures and aidants as the API shows them, and how they are created."""

from __future__ import annotations

from typing import Iterable

from pynamodb.expressions.condition import Condition

from . import cgu, crypto, emails, errors, otp, stats
from . import error_codes as codes
from .sessions import Caller
from .store import Aidant, EmailClaim, Item, Membership, Operation, Structure, now, transaction


def describe_caller(caller: Caller) -> dict:
    """The aidant, the structure they act for, all their structures (the current one
    flagged ``current``: the header shows it and offers the others) and the terms of
    use they accepted. Pending invitations are ``shared.invitations``'."""
    aidant = caller.aidant
    structures = {s.id: s for s in Structure.many(aidant.structure_ids)}
    current = structures.get(caller.structure_id)
    listed = sorted((s for s in structures.values() if s.is_active), key=lambda s: (s.name.lower(), s.id))
    return {
        "aidant": {
            "id": aidant.id,
            "first_name": aidant.first_name,
            "last_name": aidant.last_name,
            "email": aidant.email,
            "is_referent": bool(aidant.referent_of),
            "is_staff": bool(aidant.is_staff),
        },
        "structure": structure_summary(current) if current else None,
        "structures": [structure_summary(s) | {"current": s.id == caller.structure_id} for s in listed],
        "cgu": cgu.status(aidant),
    }


def structure_summary(structure: Structure) -> dict:
    return {"id": structure.id, "name": structure.name, "siret": structure.siret, "address": structure.address}


def new_structure(
    name: str, siret: str, address: str, structure_id: str | None = None, structure_type: str | None = None
) -> Structure:
    return Structure.new(
        structure_id or crypto.new_id(),
        name=name,
        siret=siret,
        address=address,
        structure_type=structure_type,
        is_active=True,
    )


def structure_operations(structure: Structure) -> list[Operation]:
    """A new structure, for the caller's transaction, with the public count of
    structures (``shared.stats``)."""
    return [
        ("save", structure, {"condition": Structure.pk.does_not_exist()}),
        *stats.structure_opened().operations(structure.id),
    ]


def create_structure(structure: Structure) -> Structure:
    with transaction(errors.Conflict("Cette structure existe déjà.", code=codes.STRUCTURE_EXISTS)) as tx:
        tx.include(structure_operations(structure))
    return structure


def ensure_structure(structure: Structure) -> Structure:
    """Create it unless a structure with its id exists (demo data, set-ups run twice)."""
    try:
        return create_structure(structure)
    except errors.Conflict:
        found = Structure.find(structure.id, consistent=True)
        if found is None:  # the conflict was not this structure's existence
            raise
        return found


def create_aidant(
    email: str,
    first_name: str,
    last_name: str,
    structure_ids: list[str],
    *,
    profession: str | None = None,
    referent_of: Iterable[str] = (),
    aidant_id: str | None = None,
    is_active: bool = True,
    device_kind: str | None = "app",
    totp_secret: str | None = None,
    card_serial: str | None = None,
    cgu_version: str | None = None,
) -> tuple[Aidant, str | None]:
    """Create an aidant, the claim on their e-mail, memberships and (optionally) a TOTP
    device, all or nothing (409 ``account_exists`` when the e-mail or the id is
    taken). Returns the aidant and the clear TOTP seed (if any).
    The e-mail is stored and claimed in its normal form (``shared.emails``), the form
    login looks it up by. ``cgu_version``: terms of use already accepted (set-up of
    tests and demo data; an aidant accepts them through ``shared.cgu``)."""
    aidant, items = new_aidant_items(
        email,
        first_name,
        last_name,
        structure_ids,
        profession=profession,
        referent_of=referent_of,
        aidant_id=aidant_id,
        is_active=is_active,
    )
    if cgu_version:
        aidant.cgu_version, aidant.cgu_accepted_at = cgu_version, now()
    device, secret = (
        otp.new_device(aidant.id, device_kind, secret=totp_secret, serial=card_serial) if device_kind else (None, None)
    )
    with transaction(
        errors.Conflict("Un compte existe déjà avec cette adresse e-mail.", code=codes.ACCOUNT_EXISTS)
    ) as tx:
        for item, condition in items:
            tx.save(item, condition=condition)
        if device is not None:
            tx.save(device)
        tx.include(stats.aidant_activity(False, is_active).operations(aidant.id))
    return aidant, secret


def new_aidant_items(
    email: str,
    first_name: str,
    last_name: str,
    structure_ids: list[str],
    *,
    profession: str | None = None,
    referent_of: Iterable[str] = (),
    aidant_id: str | None = None,
    is_active: bool = True,
) -> tuple[Aidant, list[tuple[Item, Condition | None]]]:
    """The items of a new aidant (not saved), each with the condition it is written
    under: the aidant, the claim on their e-mail (two aidants never share one) and a
    membership per structure. For a caller that writes them in its own transaction."""
    email = emails.normalize(email)
    aidant_id = aidant_id or crypto.new_id()
    pk, sk = Aidant.key(aidant_id)
    aidant = Aidant(
        pk=pk,
        sk=sk,
        id=aidant_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        profession=profession,
        structure_ids=set(structure_ids),
        current_structure_id=structure_ids[0] if structure_ids else None,
        referent_of=set(referent_of),
        is_active=is_active,
        created_at=now(),
    )
    claim = EmailClaim(*EmailClaim.key(email), aidant_id=aidant_id)
    items: list[tuple[Item, Condition | None]] = [
        (aidant, Aidant.pk.does_not_exist()),
        (claim, EmailClaim.pk.does_not_exist()),
    ]
    items += [(Membership.new(sid, aidant_id), None) for sid in structure_ids]
    return aidant, items


def find_aidant_by_email(email: str) -> Aidant | None:
    try:
        email = emails.normalize(email)
    except errors.BadRequest:
        return None  # not an address: nobody's
    claim = EmailClaim.find(email)
    return Aidant.find(claim.aidant_id) if claim is not None else None
