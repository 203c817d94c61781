"""Revoking a mandate, or one of its autorisations, confirmed by the aidant's TOTP.

One ``TransactWrite``: each autorisation closed (it leaves the active indexes the
identity provider reads, so it stops being offered at once), the mandate's
``active_demarches`` shrunk, and when nothing is left the mandate marked revoked and
taken out of the expiry index (no reminder for a revoked mandate) and out of the
public figure of mandates in force (``shared.stats``), plus the journal entry. Conditions make a concurrent revocation, renewal or second click fail as a
whole (409) instead of leaving a mandate that says one thing and autorisations that
say another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action

from . import error_codes as codes
from . import errors, journal, notifications, otp, stats
from .demarches import DEMARCHES
from .mandates import load_for_structure, usager_and_structure
from .store import Autorisation, Mandate, Operation, now, transaction

MANDATE_REVOKED = "mandate_revoked"
AUTORISATION_REVOKED = "autorisation_revoked"


@dataclass
class Plan:
    """What a revocation will close, decided from one read of the mandate."""

    mandate: Mandate
    closing: list[Autorisation]
    whole: bool  # nothing active remains afterwards: the mandate itself is revoked


def plan(mandate: Mandate, autorisations: list[Autorisation], demarche: str | None, at: datetime | None = None) -> Plan:
    at = at or now()
    if demarche is not None and demarche not in DEMARCHES:
        raise errors.BadRequest("Démarche inconnue.", code=codes.INVALID_DEMARCHE)
    if mandate.revoked_at is not None:
        raise errors.Conflict("Ce mandat est déjà révoqué.", code=codes.ALREADY_REVOKED)
    if mandate.expires_at <= at:
        raise errors.Conflict("Ce mandat a expiré : il n'y a plus rien à révoquer.", code=codes.MANDATE_EXPIRED)
    active = {
        a.demarche: a
        for a in autorisations
        if a.revoked_at is None and a.demarche in (mandate.active_demarches or set())
    }
    if demarche is not None:
        if demarche not in active:
            raise errors.Conflict(
                "Cette démarche n'est pas (ou plus) couverte par ce mandat.", code=codes.AUTORISATION_NOT_ACTIVE
            )
        closing = [active[demarche]]
    else:
        if not active:
            raise errors.Conflict("Ce mandat n'a plus d'autorisation active.", code=codes.AUTORISATION_NOT_ACTIVE)
        closing = list(active.values())
    return Plan(mandate=mandate, closing=sorted(closing, key=lambda a: a.demarche), whole=len(closing) == len(active))


def _changed() -> errors.Conflict:
    return errors.Conflict("Ce mandat a changé pendant la révocation. Rechargez la page.", code=codes.MANDATE_CHANGED)


def apply(
    p: Plan, aidant_id: str, structure_id: str, extra: Iterable[Operation] = (), conflict: Exception | None = None
) -> None:
    """Write the plan in one transaction. ``extra`` and ``conflict`` as in
    ``mandates.create``: a concurrent revocation or renewal makes it fail as a whole."""
    at = now()
    mandate = p.mandate
    closed = {a.demarche for a in p.closing}
    actions: list[Action] = [Mandate.active_demarches.delete(closed)]
    if p.whole:
        actions += [*Mandate.revocation_actions(at, aidant_id), Mandate.stats_ended_at.set(at)]
    # The mandate still holds exactly what we read: two revocations of its last two
    # démarches cannot both decide "not the last one" and leave it unrevoked. Not yet
    # counted as ended either (the expiry run), so it leaves the figures once.
    condition = (
        Mandate.revoked_at.does_not_exist()
        & Mandate.stats_ended_at.does_not_exist()
        & (size(Mandate.active_demarches) == len(mandate.active_demarches or ()))
    )
    for demarche in closed:
        condition &= Mandate.active_demarches.contains(demarche)
    with transaction(conflict) as tx:
        for auth in p.closing:
            tx.update(auth, actions=Autorisation.closing_actions(at, aidant_id), condition=Autorisation.still_active())
        tx.update(Mandate(*Mandate.key(mandate.id)), actions=actions, condition=condition)
        tx.save(
            journal.entry(
                MANDATE_REVOKED if p.whole else AUTORISATION_REVOKED,
                aidant_id=aidant_id,
                structure_id=structure_id,
                usager_id=mandate.usager_id,
                mandate_id=mandate.id,
                demarche=p.closing[0].demarche if len(p.closing) == 1 else None,
                details={"demarches": ",".join(sorted(closed))},
            ),
            condition=journal.append_condition(),
        )
        if p.whole:
            tx.include(stats.mandate_ended().operations(mandate.id))
        tx.include(extra)


def revoke(
    structure_id: str, aidant_id: str, mandate_id: str, code: object, demarche: str | None = None
) -> tuple[Mandate, list[Autorisation]]:
    """Revoke all of a mandate of the caller's structure, or one démarche of it.

    The TOTP code is spent only once the revocation is known to make sense, so a
    mistaken click does not burn the aidant's current code."""
    mandate, autorisations = load_for_structure(mandate_id, structure_id)
    p = plan(mandate, autorisations, demarche)
    otp.check_code_for(aidant_id, code, action="revoke_mandate")
    usager, structure = usager_and_structure(mandate.usager_id, structure_id)
    notice = (
        notifications.revoked_item(mandate, usager, structure, demarches=[a.demarche for a in p.closing])
        if usager and structure
        else None
    )
    apply(p, aidant_id, structure_id, extra=[notifications.operation(notice)] if notice else [], conflict=_changed())
    notifications.kick(notice)
    return load_for_structure(mandate_id, structure_id)
