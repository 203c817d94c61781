"""The référent's structures and their aidants, as the space shows them."""

from __future__ import annotations

from ..lifecycle import AidantFile, read_file
from ..sessions import Caller
from ..store import Aidant, Membership, Structure, TotpDevice
from .access import managed_structure, require_referent


def structure_view(structure: Structure, active_count: int) -> dict:
    return {
        "id": structure.id,
        "name": structure.name,
        "siret": structure.siret,
        "address": structure.address,
        "structure_type": structure.structure_type,
        "is_active": bool(structure.is_active),
        "active_aidants": active_count,
    }


def my_structures(caller: Caller) -> dict:
    """The structures the caller manages, each with its number of active aidants
    (one Query of memberships and one BatchGet of aidants per structure)."""
    require_referent(caller)
    out = []
    for structure in sorted(Structure.many(caller.aidant.referent_of), key=lambda s: s.name.lower()):
        aidants = Aidant.many(Membership.aidants_of(structure.id))
        active = sum(1 for a in aidants if a.is_active and structure.id in (a.structure_ids or ()))
        out.append(structure_view(structure, active))
    me = read_file(caller.aidant_id)
    return {
        "referent": {
            "id": caller.aidant.id,
            "first_name": caller.aidant.first_name,
            "last_name": caller.aidant.last_name,
            "is_staff": bool(caller.aidant.is_staff),
            "has_confirmed_card": bool(me and me.device("card", confirmed=True)),
            "has_confirmed_device": bool(me and me.has_confirmed_device),
        },
        "structures": out,
    }


def device_view(device: TotpDevice) -> dict:
    return {
        "id": device.device_id,
        "kind": device.device_kind,
        "serial": device.serial,
        "confirmed": bool(device.confirmed),
        "label": device.serial if device.device_kind == "card" else "application",
    }


def aidant_view(file: AidantFile, structure: Structure, caller: Caller) -> dict:
    aidant = file.aidant
    training = file.training
    devices = sorted(file.devices, key=lambda d: (d.device_kind != "card", d.device_id))
    return {
        "id": aidant.id,
        "first_name": aidant.first_name,
        "last_name": aidant.last_name,
        "name": aidant.full_name,
        "email": aidant.email,
        "profession": aidant.profession,
        "is_active": file.active_in(structure.id),
        "is_referent": structure.id in (aidant.referent_of or ()),
        "is_you": aidant.id == caller.aidant_id,
        "otp": ", ".join(device_view(d)["label"] for d in devices if d.confirmed) or None,
        "devices": [device_view(d) for d in devices],
        "training": {
            "trained_on": training.trained_on if training else None,
            "pix_passed": bool(training and training.pix_passed),
            "complete": file.trained,
        },
        "activation_blockers": file.blockers(),
    }


def structure_detail(caller: Caller, structure_id: str) -> dict:
    """The structure and its aidants: one Query of memberships, then one Query per
    aidant (their partition: account, devices, training). Bounded by the size of the
    structure, whatever the size of the table."""
    structure = managed_structure(caller, structure_id)
    files = [f for f in (read_file(aid) for aid in Membership.aidants_of(structure_id)) if f is not None]
    # The référent first (they link their own card before anyone else's), then by name.
    files.sort(key=lambda f: (f.aidant.id != caller.aidant_id, f.aidant.last_name.lower(), f.aidant.first_name.lower()))
    aidants = [aidant_view(f, structure, caller) for f in files]
    return {"structure": structure_view(structure, sum(1 for a in aidants if a["is_active"])), "aidants": aidants}
