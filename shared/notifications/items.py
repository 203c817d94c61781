"""The outbox item of each e-mail the service sends: who receives it and the context
its template needs, stored as keys and ISO dates (``messages`` turns them into what
the e-mail shows when it is sent)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Iterable

from ..demarches import DEMARCHES
from ..store import Aidant, Invitation, Mandate, OutboxItem, Structure, Usager, now
from .outbox import new_item

# Templates (shared/templates/mail/<name>.{subject.txt,txt,html}).
LOGIN_LINK = "login_link"
MANDATE_CREATED = "mandate_created"
MANDATE_REVOKED = "mandate_revoked"
DEMARCHE_DONE = "demarche_done"
EXPIRY_REMINDER = "expiry_reminder"
INVITATION = "invitation"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def demarche_order(key: str) -> int:
    return list(DEMARCHES).index(key) if key in DEMARCHES else len(DEMARCHES)


def _structure_view(structure: Structure) -> dict:
    return {"id": structure.id, "name": structure.name, "address": structure.address or ""}


def login_link_item(aidant: Aidant, link: str, expires_at: int) -> OutboxItem:
    """The login link e-mail; useless once the link has expired, so not sent after."""
    return new_item(
        LOGIN_LINK,
        aidant.email,
        {"first_name": aidant.first_name, "link": link, "minutes": max(1, (expires_at - int(time.time())) // 60)},
        deliver_by=expires_at,
        inbox=aidant.current_structure_id,
    )


def mandate_created_item(mandate: Mandate, usager: Usager, structure: Structure) -> OutboxItem | None:
    """Tells the usager what they signed: démarches, duration, structure, how to revoke."""
    if not usager.email:
        return None
    return new_item(
        MANDATE_CREATED,
        usager.email,
        {
            "usager_name": usager.full_name,
            "structure": _structure_view(structure),
            "mandate_id": mandate.id,
            "demarches": list(mandate.demarches),
            "duration": mandate.duration,
            "created_at": iso(mandate.created_at or now()),
            "expires_at": iso(mandate.expires_at),
            "is_remote": bool(mandate.is_remote),
        },
        inbox=structure.id,
    )


def revoked_item(
    mandate: Mandate,
    usager: Usager,
    structure: Structure,
    demarches: Iterable[str] | None = None,
    at: datetime | None = None,
) -> OutboxItem | None:
    """The mandate (``demarches=None``) or some of its autorisations were revoked.
    ``mandate`` may be read before or after the revocation: what stays active is
    computed from its ``active_demarches`` minus ``demarches``."""
    if not usager.email:
        return None
    whole = demarches is None
    revoked = sorted(mandate.demarches if demarches is None else set(demarches), key=demarche_order)
    remaining = [] if whole else sorted(set(mandate.active_demarches or ()) - set(revoked), key=demarche_order)
    return new_item(
        MANDATE_REVOKED,
        usager.email,
        {
            "usager_name": usager.full_name,
            "structure": _structure_view(structure),
            "mandate_id": mandate.id,
            "whole": whole or not remaining,
            "revoked": revoked,
            "remaining": remaining,
            "at": iso(at or now()),
            "expires_at": iso(mandate.expires_at),
        },
        inbox=structure.id,
    )


def demarche_done_item(
    usager: Usager, structure: Structure, demarche: str, at: datetime | None = None, service: str | None = None
) -> OutboxItem | None:
    """A démarche carried out for the usager through the identity provider: which
    structure, which démarche, when, and (optionally) on which online service. It
    takes no aidant on purpose: the usager's mandate is with the structure, and the
    acting aidant's identity is in the journal, not in the usager's mailbox."""
    if not usager.email:
        return None
    return new_item(
        DEMARCHE_DONE,
        usager.email,
        {
            "usager_name": usager.full_name,
            "structure": _structure_view(structure),
            "demarche": demarche,
            "at": iso(at or now()),
            "service": service or "",
        },
        inbox=structure.id,
    )


def expiry_reminder_item(
    aidant: Aidant, mandates: list[Mandate], structures: dict[str, Structure], ends_today_before: datetime | None = None
) -> OutboxItem:
    """One e-mail for one aidant listing the mandates of their structures that end
    soon; those ending before ``ends_today_before`` (tonight) are said to end tonight."""
    ordered = sorted(mandates, key=lambda m: (m.expires_at, m.id))
    return new_item(
        EXPIRY_REMINDER,
        aidant.email,
        {
            "first_name": aidant.first_name,
            "several_structures": len({m.structure_id for m in ordered}) > 1,
            "mandates": [
                {
                    "id": m.id,
                    "usager_name": m.usager_name or "",
                    "demarches": sorted(m.active_demarches or m.demarches, key=demarche_order),
                    "expires_at": iso(m.expires_at),
                    "duration": m.duration,
                    "ends_today": bool(ends_today_before and m.expires_at <= ends_today_before),
                    "structure": structures[m.structure_id].name,
                }
                for m in ordered
            ],
        },
        inbox=ordered[0].structure_id if ordered else None,
    )


def invitation_item(invitation: Invitation, newcomer: bool) -> OutboxItem:
    """Tells the invitee who invites them where, and what to do: an aidant already
    logs in and accepts with their code; a newcomer learns the steps before their
    first login (training, a card or the app from the référent). In the sandbox it
    lands in the inviting structure's inbox."""
    return new_item(
        INVITATION,
        invitation.email,
        {
            "structure_name": invitation.structure_name,
            "invited_by": invitation.invited_by_name or "",
            "newcomer": newcomer,
            "expires_at": iso(datetime.fromtimestamp(int(invitation.expires_at), timezone.utc)),
        },
        inbox=invitation.structure_id,
    )
