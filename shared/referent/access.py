"""Who may act in the référent's space, on which structure and which aidant."""

from __future__ import annotations

from dataclasses import dataclass

from .. import error_codes as codes
from .. import errors, journal
from ..lifecycle import AidantFile, read_file
from ..sessions import Caller
from ..store import Aidant, JournalEntry, Membership, Structure


def require_referent(caller: Caller) -> None:
    if not (caller.aidant.referent_of or caller.aidant.is_staff):
        raise errors.Forbidden("Cet espace est réservé aux référents des structures.", code=codes.NOT_REFERENT)


def managed_structure(caller: Caller, structure_id: str) -> Structure:
    require_referent(caller)
    if not caller.aidant.is_staff and structure_id not in (caller.aidant.referent_of or ()):
        raise errors.NotFound("Structure introuvable.")
    structure = Structure.find(structure_id)
    if structure is None:
        raise errors.NotFound("Structure introuvable.")
    return structure


@dataclass
class Target:
    caller: Caller
    structure: Structure
    file: AidantFile

    @property
    def aidant(self) -> Aidant:
        return self.file.aidant

    def entry(self, action: str, **details) -> JournalEntry:
        return journal.entry(
            action,
            aidant_id=self.caller.aidant_id,
            structure_id=self.structure.id,
            details={"target_aidant": self.aidant.id, **details},
        )


def managed_aidant(caller: Caller, structure_id: str, aidant_id: str) -> Target:
    structure = managed_structure(caller, structure_id)
    if Membership.find(structure_id, aidant_id) is None:
        raise errors.NotFound("Aidant introuvable dans cette structure.")
    file = read_file(aidant_id)
    if file is None:
        raise errors.NotFound("Aidant introuvable dans cette structure.")
    return Target(caller, structure, file)


def require_device_authority(target: Target) -> None:
    """A TOTP card or app belongs to the aidant, not to one structure: changing it
    changes how they log in everywhere. Only staff, or a référent who manages every
    structure the aidant works for, may do it; otherwise the référent of a newly
    accredited structure could take over an aidant of another structure."""
    caller = target.caller.aidant
    if caller.is_staff:
        return
    if not set(target.aidant.structure_ids or ()) <= set(caller.referent_of or ()):
        raise errors.Forbidden(
            "Cet aidant travaille aussi pour une autre structure : seule l'équipe "
            "Aidants Connect peut modifier sa carte ou son application.",
            code=codes.SHARED_AIDANT,
        )


def changed() -> errors.Conflict:
    """What a transaction of this space answers when one of its conditions fails."""
    return errors.Conflict("Cette action a déjà été effectuée ou la situation a changé. Rechargez la page.")
