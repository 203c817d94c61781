"""A référent activates or deactivates an aidant's access to their structure
(what that writes: ``shared.lifecycle``)."""

from __future__ import annotations

from .. import error_codes as codes
from .. import errors, lifecycle
from ..store import transaction
from .access import Target, changed


def activate(target: Target) -> dict:
    target.file.require_ready()
    if target.file.active_in(target.structure.id):
        return {"is_active": True}
    with transaction(changed()) as tx:
        tx.include(
            lifecycle.activation(target.aidant, actor_id=target.caller.aidant_id, structure_id=target.structure.id)
        )
    return {"is_active": True}


def deactivate(target: Target) -> dict:
    aidant, sid = target.aidant, target.structure.id
    if aidant.id == target.caller.aidant_id:
        raise errors.Conflict(
            "Vous ne pouvez pas désactiver votre propre accès. Demandez-le à un autre "
            "référent de la structure ou à l'équipe Aidants Connect.",
            code=codes.SELF_DEACTIVATION,
        )
    if sid not in (aidant.structure_ids or ()):
        return {"is_active": False, "sessions_ended": lifecycle.end_sessions(aidant.id, sid)}  # already
    leaving = lifecycle.deactivation(aidant, actor_id=target.caller.aidant_id, structure_id=sid)
    with transaction(changed()) as tx:
        tx.include(leaving.operations)
    # authenticate() already refuses these sessions (structure no longer theirs);
    # deleting them makes it immediate and leaves nothing to ride on.
    return {"is_active": False, "sessions_ended": leaving.end_sessions()}
