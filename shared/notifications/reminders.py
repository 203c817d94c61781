"""Expiry reminders: once a day, from ``REMINDER_HOUR`` (Paris), each active aidant
gets one e-mail listing their structures' mandates that end within
``REMINDER_WINDOW_DAYS`` Paris days; each mandate is reminded once, in the same
transaction as the e-mails.

A mandate signed for no longer than the window (``short``: until the end of the
next day) is not reminded a week ahead: its end was chosen days ago at most. It is
reminded on the morning of its last day ("se termine ce soir"), to the aidant who
signed it only (the one who helped the usager, and who would finish the démarche or
create a new mandate with them before the evening); to every active aidant of the
structure if that aidant no longer acts for it. Short mandates are common, and the
rest of the team has no use for one e-mail each."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from typing import Iterable

from pynamodb.exceptions import TransactWriteError

from ..config import settings
from ..store import Aidant, Mandate, Membership, OutboxItem, Structure, now, transaction, writes
from ..templates import PARIS
from .items import expiry_reminder_item, iso
from .outbox import save_condition

log = logging.getLogger("aidants_connect.notifications")

TRANSACTION_MAX_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems


def window_end(at: datetime, days: int) -> datetime:
    """The window closes at the end of a Paris day, ``days`` after today: mandates
    enter it a whole day at a time, so one run a day finds them all together and
    each aidant gets one e-mail, not one per mandate as they cross a sliding edge."""
    last_day = at.astimezone(PARIS).date() + timedelta(days=days)
    return datetime.combine(last_day, dtime(23, 59, 59), tzinfo=PARIS).astimezone(timezone.utc)


def expiring_mandates(at: datetime, days: int) -> list[Mandate]:
    """Unreminded, still active mandates ending within the window: one Query per
    day on the sparse expiry index (gsi3 ``EXPIRY#<UTC date>``).

    A mandate signed for no longer than the window (``short``) is left out until its
    last day: its end was chosen at most ``days`` ago (module docstring)."""
    end = window_end(at, days)
    tonight = window_end(at, 0)
    low, high = iso(at), iso(end) + "#~"
    found: list[Mandate] = []
    day = at.astimezone(timezone.utc).date()
    while day <= end.astimezone(timezone.utc).date():
        found.extend(Mandate.ending_on(day, low, high, unreminded=True))
        day += timedelta(days=1)
    return [
        m
        for m in found
        if isinstance(m, Mandate)
        and m.revoked_at is None
        and m.reminded_at is None
        and m.active_demarches
        and at < m.expires_at <= end
        and (not is_short(m, days) or m.expires_at <= tonight)
    ]


def is_short(mandate: Mandate, days: int) -> bool:
    """Signed for no longer than the reminder window: reminded on its last day only."""
    return mandate.duration == "short" or (
        mandate.created_at is not None and mandate.expires_at - mandate.created_at <= timedelta(days=days)
    )


def _recipients(mandate: Mandate, everyone: list[Aidant], days: int) -> list[Aidant]:
    if not is_short(mandate, days):
        return everyone
    signer = [a for a in everyone if a.id == mandate.signed_by]
    return signer or everyone


def _active_aidants(structure_ids: Iterable[str]) -> dict[str, list[Aidant]]:
    """Each structure's active aidants: one Query of its memberships, one BatchGet."""
    members: dict[str, list[str]] = {}
    for sid in structure_ids:
        members[sid] = Membership.aidants_of(sid)
    wanted = sorted({aid for ids in members.values() for aid in ids})
    aidants = {a.id: a for a in Aidant.batch_get([Aidant.key(aid) for aid in wanted])} if wanted else {}
    return {
        sid: [
            aidants[aid]
            for aid in ids
            if aid in aidants and aidants[aid].is_active and sid in (aidants[aid].structure_ids or ())
        ]
        for sid, ids in members.items()
    }


def _linked_structures(structure_ids: list[str], aidants_of: dict[str, list[Aidant]]) -> list[list[str]]:
    """Structures that share an aidant go together, so that aidant gets one e-mail."""
    parent = {sid: sid for sid in structure_ids}

    def find(sid: str) -> str:
        while parent[sid] != sid:
            parent[sid] = parent[parent[sid]]
            sid = parent[sid]
        return sid

    first_seen: dict[str, str] = {}
    for sid in structure_ids:
        for aidant in aidants_of.get(sid, []):
            if aidant.id in first_seen:
                parent[find(sid)] = find(first_seen[aidant.id])
            else:
                first_seen[aidant.id] = sid
    groups: dict[str, list[str]] = defaultdict(list)
    for sid in structure_ids:
        groups[find(sid)].append(sid)
    return list(groups.values())


def _remind(
    mandates: list[Mandate], aidants_of: dict[str, list[Aidant]], structures: dict[str, Structure], at: datetime
) -> list[OutboxItem]:
    """One transaction: each mandate marked reminded (only if still unreminded and
    unrevoked) with every aidant's e-mail. A concurrent run or a revocation makes the
    whole transaction fail, and the next run starts again from the index."""
    per_aidant: dict[str, tuple[Aidant, list[Mandate]]] = {}
    days = settings().reminder_window_days
    for mandate in mandates:
        for aidant in _recipients(mandate, aidants_of[mandate.structure_id], days):
            per_aidant.setdefault(aidant.id, (aidant, []))[1].append(mandate)
    items = [
        expiry_reminder_item(aidant, found, structures, ends_today_before=window_end(at, 0))
        for aidant, found in per_aidant.values()
    ]
    try:
        with transaction() as tx:
            for mandate in mandates:
                tx.update(
                    Mandate(*Mandate.key(mandate.id)),
                    actions=[Mandate.reminded_at.set(at)],
                    condition=Mandate.pk.exists()
                    & Mandate.reminded_at.does_not_exist()
                    & Mandate.revoked_at.does_not_exist(),
                )
            for item in items:
                tx.save(item, condition=save_condition())
    except TransactWriteError as exc:
        if not writes.is_condition_failure(exc):
            raise
        log.info("reminders for mandates %s skipped this run: %s", [m.id for m in mandates], exc)
        return []
    return items


def _remind_group(
    group: list[str],
    by_structure: dict[str, list[Mandate]],
    aidants_of: dict[str, list[Aidant]],
    structures: dict[str, Structure],
    at: datetime,
) -> list[OutboxItem]:
    """The reminders of structures that share aidants: one transaction when it fits."""
    # A structure without an active aidant has nobody to remind: its mandates stay
    # unreminded, so an aidant activated within the window still hears of them.
    group = [sid for sid in group if aidants_of[sid]]
    group_mandates = [m for sid in group for m in by_structure[sid]]
    recipients = {a.id for sid in group for a in aidants_of[sid]}
    if not group_mandates:
        return []
    if len(group_mandates) + len(recipients) <= TRANSACTION_MAX_ITEMS:
        return _remind(group_mandates, aidants_of, structures, at)
    # Too big for one transaction: per structure, in chunks (an aidant of several
    # of these structures then gets one e-mail per chunk).
    written: list[OutboxItem] = []
    for sid in group:
        room = TRANSACTION_MAX_ITEMS - len(aidants_of[sid])
        if room < 1:
            log.error(
                "structure %s has %d active aidants: too many for one reminder transaction", sid, len(aidants_of[sid])
            )
            continue
        for start in range(0, len(by_structure[sid]), room):
            written += _remind(by_structure[sid][start : start + room], aidants_of, structures, at)
    return written


def compute_reminders(at: datetime | None = None, deadline: float | None = None) -> list[OutboxItem]:
    """Write the expiry reminders due now; returns the outbox items written.
    Before ``REMINDER_HOUR`` (Paris) nothing is due: e-mails go out in the morning."""
    at = at or now()
    cfg = settings()
    if at.astimezone(PARIS).hour < cfg.reminder_hour:
        return []
    mandates = expiring_mandates(at, cfg.reminder_window_days)
    if not mandates:
        return []
    by_structure: dict[str, list[Mandate]] = defaultdict(list)
    for mandate in mandates:
        by_structure[mandate.structure_id].append(mandate)
    structures = {
        s.id: s for s in Structure.batch_get([Structure.key(sid) for sid in sorted(by_structure)]) if s.is_active
    }
    sids = [sid for sid in sorted(by_structure) if sid in structures]
    aidants_of = _active_aidants(sids)
    written: list[OutboxItem] = []
    for group in _linked_structures(sids, aidants_of):
        if deadline is not None and time.monotonic() > deadline:
            break  # still unreminded: the next run continues
        written += _remind_group(group, by_structure, aidants_of, structures, at)
    return written
