"""An aidant of several structures acting for another of them."""

from __future__ import annotations

from .. import errors, journal, sessions
from ..sessions import Caller
from ..store import Aidant, Session, Structure, transaction
from .access import changed

STRUCTURE_SWITCHED = "structure_switched"


def switch_structure(caller: Caller, structure_id: object) -> tuple[dict, Session, str]:
    """Act for another of one's structures: this session and the next logins.

    The session is replaced by one naming the new structure (same end), so that its
    cookie still lets one BatchGet read the session, the aidant and the structure;
    returns the answer, the new session and its cookie value."""
    if not isinstance(structure_id, str) or structure_id not in (caller.aidant.structure_ids or ()):
        raise errors.NotFound("Structure introuvable.")
    structure = Structure.find(structure_id)
    if structure is None or not structure.is_active:
        raise errors.NotFound("Structure introuvable.")
    previous = caller.structure_id
    session, token = sessions.new_session(caller.aidant_id, structure_id, expires_at=int(caller.session.expires_at))
    with transaction(changed()) as tx:
        tx.delete(caller.session, condition=Session.pk.exists())
        tx.save(session, condition=Session.pk.does_not_exist())
        tx.update(
            caller.aidant,
            actions=[Aidant.current_structure_id.set(structure_id)],
            condition=Aidant.structure_ids.contains(structure_id),
        )
        tx.save(
            journal.entry(
                STRUCTURE_SWITCHED, aidant_id=caller.aidant_id, structure_id=structure_id, details={"from": previous}
            ),
            condition=journal.append_condition(),
        )
    caller.structure_id, caller.session = structure_id, session
    return (
        {
            "structure": {
                "id": structure.id,
                "name": structure.name,
                "siret": structure.siret,
                "address": structure.address,
            }
        },
        session,
        token,
    )
