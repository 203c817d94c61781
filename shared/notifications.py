"""Notifications that are never lost: the outbox, its delivery, expiry reminders.

A function that causes an e-mail builds an outbox item here and writes it **in the
same TransactWrite as the change it reports** (a committed change always has its
notification, a rolled-back one never does), then calls :func:`kick`, which asks
OpenFaaS to run ``notify`` asynchronously and never waits on SMTP. ``notify`` calls
:func:`deliver` for that item and, every minute, :func:`run_scheduled`, which writes
the aidants' expiry reminders and drains whatever is due (a lost async call, an
earlier SMTP failure, a backlog after an outage): login links first, over one SMTP
connection, until nothing is due or the run's budget is spent (``shared.delivery``).

Delivery is at-most-once per item in every ordinary case: an item is first claimed
with a conditional write (a lease), then sent, then marked sent by the lease holder
only, so two concurrent deliveries send one e-mail. A failure retries with
exponential backoff; after ``max_attempts`` the item is marked failed, logged, and
listed by :func:`failed_items` until ops :func:`requeue` it. A login link whose
link has expired before it could be sent is not sent (it would only open on "link
expired"): marked ``expired`` and logged. Nothing is dropped silently. Pending and
failed items are found through gsi1, never a Scan.

The one way an e-mail goes twice: the process dies after the relay accepted the
message and before the item is marked sent (the mark is the very next call, one
UpdateItem); the lease then runs out and the item is sent again, with the same
Message-ID (one per item), by which mail clients recognise the second copy.
"""
from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time as dtime, timedelta, timezone
from email.message import EmailMessage
from itertools import islice
from typing import Iterable

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from . import crypto, delivery, mail
from .config import settings
from .demarches import DEMARCHES
from .store import (Aidant, Mandate, Membership, OutboxItem, Structure, Usager, now,
                    transaction, writes)
from .store.outbox import FAILED_PARTITION, PENDING_SHARDS, due_key, pending_partition
from .templates import PARIS

log = logging.getLogger("aidants_connect.notifications")

CONTACT = "contact@aidantsconnect.beta.gouv.fr"
SENT_RETENTION_SECONDS = 30 * 24 * 3600  # sent items are kept a month, then TTL'd
CLOCK_SKEW_SECONDS = 5  # the writer's clock may be a little ahead of notify's
TRANSACTION_MAX_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems
DURATIONS = {"short": "courte (jusqu'à la fin de la journée de demain)",
             "six_months": "6 mois", "long": "12 mois"}

# Templates (shared/templates/mail/<name>.{subject.txt,txt,html}).
LOGIN_LINK = "login_link"
MANDATE_CREATED = "mandate_created"
MANDATE_REVOKED = "mandate_revoked"
DEMARCHE_DONE = "demarche_done"
EXPIRY_REMINDER = "expiry_reminder"


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Policy:
    max_attempts: int  # OUTBOX_MAX_ATTEMPTS
    retry_base_seconds: int  # OUTBOX_RETRY_BASE_SECONDS: first retry delay, doubled each time
    retry_max_seconds: int  # OUTBOX_RETRY_MAX_SECONDS: the longest wait between two attempts
    lease_seconds: int  # OUTBOX_LEASE_SECONDS: longer than one SMTP exchange (timeout 10 s)
    reminder_window_days: int  # REMINDER_WINDOW_DAYS
    reminder_hour: int  # REMINDER_HOUR: reminders are written from this hour (Paris time)


def policy() -> Policy:
    """Read on each use (a few ``os.environ`` lookups) so tests may change it."""
    # Defaults: 12 attempts, 30 s doubling to at most 1 h, cover about six hours of
    # SMTP outage before an item is given up on.
    return Policy(
        max_attempts=_int_env("OUTBOX_MAX_ATTEMPTS", 12),
        retry_base_seconds=_int_env("OUTBOX_RETRY_BASE_SECONDS", 30),
        retry_max_seconds=_int_env("OUTBOX_RETRY_MAX_SECONDS", 3600),
        lease_seconds=_int_env("OUTBOX_LEASE_SECONDS", 60),
        reminder_window_days=_int_env("REMINDER_WINDOW_DAYS", 7),
        reminder_hour=_int_env("REMINDER_HOUR", 8),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _shard(item_id: str) -> int:
    return zlib.crc32(item_id.encode()) % PENDING_SHARDS


# -- building outbox items ---------------------------------------------------------

def new_item(template: str, recipient: str, context: dict, *, deliver_by: int | None = None,
             max_attempts: int | None = None, ttl: int | None = None) -> OutboxItem:
    """A pending outbox item, due now, to write in the caller's transaction. One with
    a ``deliver_by`` (useless after it) goes to the urgent partitions, read first.
    ``ttl`` for an item an anonymous request writes: even failed, it does not stay
    for good (sending it sets the usual retention)."""
    item_id = crypto.new_id()
    pk, sk = OutboxItem.key(item_id)
    due = int(time.time())
    return OutboxItem(
        pk=pk, sk=sk, id=item_id, template=template, recipient=recipient,
        sealed_context=crypto.seal(json.dumps(context, ensure_ascii=False, separators=(",", ":")),
                                   f"outbox:{pk}"),
        status="pending", attempts=0, max_attempts=max_attempts or policy().max_attempts,
        next_attempt_at=due, deliver_by=deliver_by, created_at=now(), ttl=ttl,
        gsi1pk=pending_partition(_shard(item_id), urgent=deliver_by is not None), gsi1sk=due_key(due, item_id))


def save_condition():
    return OutboxItem.pk.does_not_exist()


def operation(item: OutboxItem) -> tuple[str, OutboxItem, dict]:
    """The item as one ``extra`` operation of ``shared.mandates.create``."""
    return ("save", item, {"condition": save_condition()})


def _structure_view(structure: Structure) -> dict:
    return {"id": structure.id, "name": structure.name, "address": structure.address or ""}


def login_link_item(aidant: Aidant, link: str, expires_at: int) -> OutboxItem:
    """The login link e-mail; useless once the link has expired, so not sent after."""
    return new_item(LOGIN_LINK, aidant.email,
                    {"first_name": aidant.first_name, "link": link,
                     "minutes": max(1, (expires_at - int(time.time())) // 60)},
                    deliver_by=expires_at)


def mandate_created_item(mandate: Mandate, usager: Usager, structure: Structure) -> OutboxItem | None:
    """Tells the usager what they signed: démarches, duration, structure, how to revoke."""
    if not usager.email:
        return None
    return new_item(MANDATE_CREATED, usager.email, {
        "usager_name": usager.full_name, "structure": _structure_view(structure),
        "mandate_id": mandate.id, "demarches": list(mandate.demarches), "duration": mandate.duration,
        "created_at": _iso(mandate.created_at or now()), "expires_at": _iso(mandate.expires_at),
        "is_remote": bool(mandate.is_remote)})


def revoked_item(mandate: Mandate, usager: Usager, structure: Structure,
                 demarches: Iterable[str] | None = None, at: datetime | None = None) -> OutboxItem | None:
    """The mandate (``demarches=None``) or some of its autorisations were revoked.
    ``mandate`` may be read before or after the revocation: what stays active is
    computed from its ``active_demarches`` minus ``demarches``."""
    if not usager.email:
        return None
    whole = demarches is None
    revoked = sorted(mandate.demarches if whole else set(demarches), key=_demarche_order)
    remaining = [] if whole else sorted(set(mandate.active_demarches or ()) - set(revoked), key=_demarche_order)
    return new_item(MANDATE_REVOKED, usager.email, {
        "usager_name": usager.full_name, "structure": _structure_view(structure),
        "mandate_id": mandate.id, "whole": whole or not remaining, "revoked": revoked,
        "remaining": remaining, "at": _iso(at or now()), "expires_at": _iso(mandate.expires_at)})


def demarche_done_item(usager: Usager, structure: Structure, demarche: str, at: datetime | None = None,
                       service: str | None = None) -> OutboxItem | None:
    """A démarche carried out for the usager through the identity provider: which
    structure, which démarche, when, and (optionally) on which online service. It
    takes no aidant on purpose: the usager's mandate is with the structure, and the
    acting aidant's identity is in the journal, not in the usager's mailbox."""
    if not usager.email:
        return None
    return new_item(DEMARCHE_DONE, usager.email, {
        "usager_name": usager.full_name, "structure": _structure_view(structure),
        "demarche": demarche, "at": _iso(at or now()), "service": service or ""})


def expiry_reminder_item(aidant: Aidant, mandates: list[Mandate],
                         structures: dict[str, Structure]) -> OutboxItem:
    """One e-mail for one aidant listing the mandates of their structures that end soon."""
    ordered = sorted(mandates, key=lambda m: (m.expires_at, m.id))
    return new_item(EXPIRY_REMINDER, aidant.email, {
        "first_name": aidant.first_name,
        "several_structures": len({m.structure_id for m in ordered}) > 1,
        "mandates": [{"id": m.id, "usager_name": m.usager_name or "",
                      "demarches": sorted(m.active_demarches or m.demarches, key=_demarche_order),
                      "expires_at": _iso(m.expires_at), "duration": m.duration,
                      "structure": structures[m.structure_id].name} for m in ordered]})


# -- rendering -----------------------------------------------------------------------

def _demarche_order(key: str) -> int:
    return list(DEMARCHES).index(key) if key in DEMARCHES else len(DEMARCHES)


def _demarche_view(key: str) -> dict:
    known = DEMARCHES.get(key)
    return {"key": key, "title": known.title if known else key,
            "description": known.description if known else ""}


def _view(template: str, context: dict) -> dict:
    """Turns the stored context (keys, ISO dates) into what the template shows."""
    view = dict(context, contact=CONTACT)
    for name in ("demarches", "revoked", "remaining"):
        if name in view:
            view[name] = [_demarche_view(k) for k in view[name]]
    if "demarche" in view:
        view["demarche"] = _demarche_view(view["demarche"])
    if "duration" in view:
        view["duration_label"] = DURATIONS.get(view["duration"], view["duration"])
    if template == EXPIRY_REMINDER:
        view["mandates"] = [dict(m, demarches=[_demarche_view(k) for k in m["demarches"]])
                            for m in view["mandates"]]
    return view


def context_of(item: OutboxItem) -> dict:
    return json.loads(crypto.unseal(item.sealed_context, f"outbox:{item.pk}"))


def _time_left(item: OutboxItem, at: int) -> dict:
    """What a link's e-mail says of its life, as of sending (not of writing: after an
    outage a link may leave with two of its five minutes left)."""
    until = datetime.fromtimestamp(item.deliver_by, timezone.utc).astimezone(PARIS)
    return {"minutes": max(1, (item.deliver_by - at + 30) // 60), "until": f"{until.hour:02d}h{until.minute:02d}"}


def render(item: OutboxItem, at: int | None = None) -> EmailMessage:
    view = _view(item.template, context_of(item))
    if item.deliver_by is not None:
        view.update(_time_left(item, int(at if at is not None else time.time())))
    subject, text, html = mail.render(item.template, **view)
    message = mail.build(item.recipient, subject, text, html, message_id=item.message_id)
    # Python folds a long non-ASCII Subject into encoded words that lose the space
    # between them ("a été modifié" shows as "a étémodifié"); RFC 5322 allows 998
    # characters per line, so headers are not folded below that.
    message.policy = message.policy.clone(max_line_length=998)
    return message


# -- invoking notify -----------------------------------------------------------------

def kick(*items: OutboxItem | None) -> None:
    """Ask OpenFaaS to deliver these items now (``/async-function/notify``: queued,
    answered 202 at once). A gateway that refuses is asked again within
    ``NOTIFY_KICK_BUDGET_SECONDS`` in all (``delivery.ask_notify``): the request that
    wrote the items waits no longer. What is still not accepted is logged and left
    to the scheduled run, a minute at most later. Never raises: the change is
    committed already."""
    cfg = settings()
    url = cfg.gateway_url + "/async-function/notify"
    deadline = time.monotonic() + cfg.notify_kick_budget_seconds
    for item in items:
        if item is None:
            continue
        attempts, failure = delivery.ask_notify(url, item.id, deadline)
        if failure:
            log.warning("outbox %s: async notify not invoked after %d attempt(s) (%s); "
                        "the scheduled run will send it", item.id, attempts, failure)


# -- delivery ------------------------------------------------------------------------

SENT, RETRY, UNREACHABLE, FAILED, EXPIRED, SKIPPED, MISSING = (
    "sent", "retry", "unreachable", "failed", "expired", "skipped", "missing")


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _claim(item: OutboxItem, at: int, owner: str) -> bool:
    """Take the item for one delivery attempt: only if still pending, due, and not
    leased by a live delivery. Two concurrent deliveries: one wins, one skips."""
    lease_end = at + policy().lease_seconds
    try:
        item.update(
            actions=[OutboxItem.attempts.add(1), OutboxItem.sending_until.set(lease_end),
                     OutboxItem.lease_owner.set(owner), OutboxItem.gsi1sk.set(due_key(lease_end, item.id))],
            condition=(OutboxItem.pk.exists() & (OutboxItem.status == "pending")
                       & (OutboxItem.next_attempt_at <= at + CLOCK_SKEW_SECONDS)
                       & (OutboxItem.sending_until.does_not_exist() | (OutboxItem.sending_until < at))))
        return True
    except UpdateError as exc:
        if _condition_failed(exc):
            return False
        raise


def _release(item: OutboxItem, owner: str, actions: list) -> bool:
    """A write only the lease holder may make."""
    try:
        item.update(actions=actions + [OutboxItem.sending_until.remove(), OutboxItem.lease_owner.remove()],
                    condition=OutboxItem.lease_owner == owner)
        return True
    except UpdateError as exc:
        if _condition_failed(exc):
            log.warning("outbox %s: lease lost during delivery; another delivery took over", item.id)
            return False
        raise


def _mark_sent(item: OutboxItem, at: int, owner: str) -> None:
    _release(item, owner, [
        OutboxItem.status.set("sent"), OutboxItem.sent_at.set(now()),
        OutboxItem.sealed_context.remove(),  # a login link must not outlive its sending
        OutboxItem.gsi1pk.remove(), OutboxItem.gsi1sk.remove(), OutboxItem.last_error.remove(),
        OutboxItem.ttl.set(at + SENT_RETENTION_SECONDS)])


def _expired_actions(item: OutboxItem, at: int) -> list:
    return [OutboxItem.status.set("expired"), OutboxItem.failed_at.set(now()),
            OutboxItem.last_error.set(f"expired {at - item.deliver_by} s before it could be sent"),
            OutboxItem.sealed_context.remove(),  # the dead link goes too
            OutboxItem.gsi1pk.remove(), OutboxItem.gsi1sk.remove(),
            OutboxItem.ttl.set(at + SENT_RETENTION_SECONDS)]


def _log_expired(item: OutboxItem, at: int) -> None:
    # Not an error for ops: nothing to requeue (the link is dead); the aidant, told
    # the link lasts five minutes, asks for another, which goes out first.
    log.warning("outbox %s (%s) not sent: its link expired %d s before it could be sent (attempts %d)",
                item.id, item.template, at - item.deliver_by, item.attempts)


def _expire(item: OutboxItem, at: int) -> bool:
    """A dead link found in the index: one conditional write, no claim (only if still
    pending and not held by a live delivery)."""
    try:
        item.update(actions=_expired_actions(item, at),
                    condition=(OutboxItem.status == "pending") & (OutboxItem.deliver_by < at + 1)
                    & (OutboxItem.sending_until.does_not_exist() | (OutboxItem.sending_until < at)))
    except UpdateError as exc:
        if _condition_failed(exc):
            return False
        raise
    _log_expired(item, at)
    return True


def _give_up(item: OutboxItem, owner: str, status: str, reason: str) -> None:
    moment = now()
    if _release(item, owner, [
            OutboxItem.status.set(status), OutboxItem.failed_at.set(moment),
            OutboxItem.last_error.set(reason[:500]),
            OutboxItem.gsi1pk.set(FAILED_PARTITION), OutboxItem.gsi1sk.set(f"{_iso(moment)}#{item.id}")]):
        # Ops find it with failed_items(); the recipient's address stays out of the logs.
        log.error("outbox %s (%s) %s after %d attempt(s): %s", item.id, item.template, status,
                  item.attempts, reason)


URGENT_UNREACHABLE_RETRY_SECONDS = 5


def retry_delay(attempts: int) -> int:
    p = policy()
    return min(p.retry_max_seconds, p.retry_base_seconds * 2 ** max(0, attempts - 1))


def retry_after(item: OutboxItem, unreachable: bool) -> int:
    """Seconds before the next attempt. A link (minutes to live) that failed because
    the relay could not be reached, not because this message was refused, is due
    again at once: otherwise, when SMTP comes back, links kicked in the outage's
    last half-minute would sit out their back-off. No storm follows: a run stops at
    the first unreachable relay, so an outage costs one attempt per run."""
    if item.deliver_by is not None and unreachable:
        return URGENT_UNREACHABLE_RETRY_SECONDS
    return retry_delay(item.attempts)


def _retry(item: OutboxItem, at: int, owner: str, exc: Exception) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    if item.attempts >= item.max_attempts:
        _give_up(item, owner, "failed", reason)
        return
    due = at + retry_after(item, delivery.unreachable(exc))
    if _release(item, owner, [OutboxItem.next_attempt_at.set(due), OutboxItem.gsi1sk.set(due_key(due, item.id)),
                              OutboxItem.last_error.set(reason[:500])]):
        log.warning("outbox %s (%s) attempt %d failed, next in %d s: %s", item.id, item.template,
                    item.attempts, due - at, reason)


def deliver(item_id: str) -> str:
    """Deliver one item if it is pending and due (the async path, one call per
    change). The claim's write returns the item as it leaves it, so the item is not
    read first: two store calls per e-mail (claim, mark sent), not three."""
    at = int(time.time())
    item = OutboxItem(*OutboxItem.key(item_id), id=item_id)
    owner = crypto.new_id()
    if not _claim(item, at, owner):
        try:  # only to say why (rare): gone, or not ours to send now
            OutboxItem.get(*OutboxItem.key(item_id), consistent_read=True)
        except DoesNotExist:
            return MISSING
        return SKIPPED
    with delivery.Mailer() as mailer:
        return _send_claimed(item, at, owner, mailer)


def deliver_item(item: OutboxItem, at: int | None = None, mailer: delivery.Mailer | None = None) -> str:
    """Claim, render, send, mark sent. Returns what happened (``SENT``, ``RETRY``,
    ``UNREACHABLE`` (a retry because SMTP cannot be reached), ``FAILED``, ``EXPIRED``
    or ``SKIPPED`` when it is not ours to send now). ``mailer`` is the run's SMTP
    connection; without one, the item gets a connection of its own."""
    at = int(at if at is not None else time.time())
    if item.status != "pending":
        return SKIPPED
    if item.deliver_by is not None and at >= item.deliver_by:
        return EXPIRED if _expire(item, at) else SKIPPED
    owner = crypto.new_id()
    if not _claim(item, at, owner):
        return SKIPPED
    if mailer is not None:
        return _send_claimed(item, at, owner, mailer)
    with delivery.Mailer() as own:
        return _send_claimed(item, at, owner, own)


def _send_claimed(item: OutboxItem, at: int, owner: str, mailer: delivery.Mailer) -> str:
    if item.deliver_by is not None and at >= item.deliver_by:
        if _release(item, owner, _expired_actions(item, at)):
            _log_expired(item, at)
        return EXPIRED
    try:
        message = render(item, at)
    except Exception as exc:  # a template or data bug: the same input will fail again
        log.exception("outbox %s: cannot render %s", item.id, item.template)
        _give_up(item, owner, "failed", f"render: {type(exc).__name__}: {exc}")
        return FAILED
    try:
        mailer.send(message, item.recipient)
    except Exception as exc:
        if delivery.permanent(exc):
            _give_up(item, owner, "failed", f"{type(exc).__name__}: {exc}")
            return FAILED
        _retry(item, at, owner, exc)
        return UNREACHABLE if delivery.unreachable(exc) else RETRY
    # Accepted by the relay: marked at once, nothing in between. A crash before
    # this write is the one way the e-mail goes twice (see the module docstring).
    _mark_sent(item, at, owner)
    return SENT


def pending_due(at: int | None = None, limit: int = 100) -> list[OutboxItem]:
    """Up to ``limit`` items due now, urgent ones (login links) first, each kind
    oldest first: one Query per shard of the sparse pending index, of each kind."""
    return list(islice(delivery.DueItems(at, page=limit), limit))


def drive_pending(at: int | None = None, deadline: float | None = None,
                  smtp_deadline: float | None = None) -> Counter:
    """Deliver what is due until nothing is, or ``deadline`` (``time.monotonic()``)
    has passed: urgent items first, all over one SMTP connection. Stops at the first
    sign that SMTP is unreachable: the rest stays due, no attempt spent on it.
    ``more`` says whether it stopped with items still due."""
    outcomes: Counter = Counter({SENT: 0, "deferred": 0})
    due = delivery.DueItems(at)
    stopped = False
    with delivery.Mailer(smtp_deadline) as mailer:
        for item in due:
            if deadline is not None and time.monotonic() > deadline:
                outcomes["deferred"] += 1 + due.buffered()
                stopped = True
                break
            outcome = deliver_item(item, at, mailer)
            outcomes[outcome] += 1
            if outcome == UNREACHABLE:
                outcomes["deferred"] += due.buffered()
                stopped = True
                break
        outcomes["smtp_connections"] = mailer.connections
    outcomes["more"] = stopped
    return outcomes


# -- expiry reminders --------------------------------------------------------------

def window_end(at: datetime, days: int) -> datetime:
    """The window closes at the end of a Paris day, ``days`` after today: mandates
    enter it a whole day at a time, so one run a day finds them all together and
    each aidant gets one e-mail, not one per mandate as they cross a sliding edge."""
    last_day = at.astimezone(PARIS).date() + timedelta(days=days)
    return datetime.combine(last_day, dtime(23, 59, 59), tzinfo=PARIS).astimezone(timezone.utc)


def expiring_mandates(at: datetime, days: int) -> list[Mandate]:
    """Unreminded, still active mandates ending within the window: one Query per
    day on the sparse expiry index (gsi3 ``EXPIRY#<UTC date>``).

    A mandate signed for no longer than the window (``short``) is left out: its end
    was chosen at most ``days`` ago, a reminder would only repeat it."""
    end = window_end(at, days)
    low, high = _iso(at), _iso(end) + "#~"
    found: list[Mandate] = []
    day = at.astimezone(timezone.utc).date()
    while day <= end.astimezone(timezone.utc).date():
        found.extend(Mandate.gsi3.query(f"EXPIRY#{day.isoformat()}", Mandate.gsi3sk.between(low, high),
                                        filter_condition=Mandate.reminded_at.does_not_exist()))
        day += timedelta(days=1)
    window = timedelta(days=days)
    return [m for m in found if isinstance(m, Mandate) and m.revoked_at is None and m.reminded_at is None
            and m.active_demarches and at < m.expires_at <= end
            and (m.created_at is None or m.expires_at - m.created_at > window)]


def _active_aidants(structure_ids: Iterable[str]) -> dict[str, list[Aidant]]:
    """Each structure's active aidants: one Query of its memberships, one BatchGet."""
    members: dict[str, list[str]] = {}
    for sid in structure_ids:
        members[sid] = [m.aidant_id for m in Membership.query(f"STRUCTURE#{sid}",
                                                               Membership.sk.startswith("AIDANT#"))
                        if isinstance(m, Membership)]
    wanted = sorted({aid for ids in members.values() for aid in ids})
    aidants = {a.id: a for a in Aidant.batch_get([Aidant.key(aid) for aid in wanted])} if wanted else {}
    return {sid: [aidants[aid] for aid in ids if aid in aidants and aidants[aid].is_active
                  and sid in (aidants[aid].structure_ids or ())]
            for sid, ids in members.items()}


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


def _remind(mandates: list[Mandate], aidants_of: dict[str, list[Aidant]],
            structures: dict[str, Structure], at: datetime) -> list[OutboxItem]:
    """One transaction: each mandate marked reminded (only if still unreminded and
    unrevoked) with every aidant's e-mail. A concurrent run or a revocation makes the
    whole transaction fail, and the next run starts again from the index."""
    per_aidant: dict[str, tuple[Aidant, list[Mandate]]] = {}
    for mandate in mandates:
        for aidant in aidants_of[mandate.structure_id]:
            per_aidant.setdefault(aidant.id, (aidant, []))[1].append(mandate)
    items = [expiry_reminder_item(aidant, found, structures) for aidant, found in per_aidant.values()]
    try:
        with transaction() as tx:
            for mandate in mandates:
                tx.update(Mandate(*Mandate.key(mandate.id)), actions=[Mandate.reminded_at.set(at)],
                          condition=Mandate.pk.exists() & Mandate.reminded_at.does_not_exist()
                          & Mandate.revoked_at.does_not_exist())
            for item in items:
                tx.save(item, condition=save_condition())
    except TransactWriteError as exc:
        if exc.cause_response_code != "TransactionCanceledException":
            raise
        log.info("reminders for mandates %s skipped this run: %s", [m.id for m in mandates], exc)
        return []
    return items


def compute_reminders(at: datetime | None = None, deadline: float | None = None) -> list[OutboxItem]:
    """Write the expiry reminders due now; returns the outbox items written.
    Before ``reminder_hour`` (Paris) nothing is due: e-mails go out in the morning."""
    at = at or now()
    if at.astimezone(PARIS).hour < policy().reminder_hour:
        return []
    mandates = expiring_mandates(at, policy().reminder_window_days)
    if not mandates:
        return []
    by_structure: dict[str, list[Mandate]] = defaultdict(list)
    for mandate in mandates:
        by_structure[mandate.structure_id].append(mandate)
    structures = {s.id: s for s in Structure.batch_get([Structure.key(sid) for sid in sorted(by_structure)])
                  if s.is_active}
    sids = [sid for sid in sorted(by_structure) if sid in structures]
    aidants_of = _active_aidants(sids)
    written: list[OutboxItem] = []
    for group in _linked_structures(sids, aidants_of):
        if deadline is not None and time.monotonic() > deadline:
            break  # still unreminded: the next run continues
        # A structure without an active aidant has nobody to remind: its mandates stay
        # unreminded, so an aidant activated within the window still hears of them.
        group = [sid for sid in group if aidants_of[sid]]
        group_mandates = [m for sid in group for m in by_structure[sid]]
        recipients = {a.id for sid in group for a in aidants_of[sid]}
        if not group_mandates:
            continue
        if len(group_mandates) + len(recipients) <= TRANSACTION_MAX_ITEMS:
            written += _remind(group_mandates, aidants_of, structures, at)
            continue
        # Too big for one transaction: per structure, in chunks (an aidant of several
        # of these structures then gets one e-mail per chunk).
        for sid in group:
            room = TRANSACTION_MAX_ITEMS - len(aidants_of[sid])
            if room < 1:
                log.error("structure %s has %d active aidants: too many for one reminder transaction",
                          sid, len(aidants_of[sid]))
                continue
            for start in range(0, len(by_structure[sid]), room):
                written += _remind(by_structure[sid][start:start + room], aidants_of, structures, at)
    return written


SMTP_GRACE_SECONDS = 3  # the last exchange of a run ends this long after its budget, at most


def run_scheduled(at: datetime | None = None) -> dict:
    """The scheduled run (every minute): reminders first, then a drain of everything
    due, until nothing is or ``NOTIFY_RUN_SECONDS`` are spent; the SMTP exchanges end
    by ``SMTP_GRACE_SECONDS`` later, so the function stays within its exec_timeout.
    What is left goes at the next run, a minute later."""
    started = time.monotonic()
    budget = settings().notify_run_seconds
    # The run's own budget replaces the request's (store/writes.py): the item marked
    # sent after the last SMTP exchange must still be written. stack.yml gives notify
    # an exec_timeout above NOTIFY_RUN_SECONDS + SMTP_GRACE_SECONDS + 1.
    writes.start_budget(budget + SMTP_GRACE_SECONDS + 1)
    reminders = compute_reminders(at, deadline=started + budget * 0.4)
    outcomes = drive_pending(int(at.timestamp()) if at else None, deadline=started + budget,
                             smtp_deadline=started + budget + SMTP_GRACE_SECONDS)
    return {"reminders": len(reminders), "seconds": round(time.monotonic() - started, 3),
            **{k: outcomes[k] for k in sorted(outcomes)}}


# -- for ops --------------------------------------------------------------------------

def failed_items(limit: int = 50) -> list[OutboxItem]:
    """Failed items, newest first (gsi1 ``OUTBOX#FAILED``)."""
    return list(OutboxItem.gsi1.query(FAILED_PARTITION, scan_index_forward=False, limit=limit))


def requeue(item_id: str) -> bool:
    """Give a failed item a fresh set of attempts, due now. (An expired login link is
    not requeued: its link is dead.)"""
    due = int(time.time())
    try:
        item = OutboxItem.get(*OutboxItem.key(item_id), consistent_read=True)
    except DoesNotExist:
        return False
    try:
        item.update(
            actions=[OutboxItem.status.set("pending"), OutboxItem.attempts.set(0),
                     OutboxItem.next_attempt_at.set(due), OutboxItem.failed_at.remove(),
                     OutboxItem.gsi1pk.set(pending_partition(_shard(item_id), urgent=item.deliver_by is not None)),
                     OutboxItem.gsi1sk.set(due_key(due, item_id))],
            condition=OutboxItem.status == "failed")
        return True
    except UpdateError as exc:
        if _condition_failed(exc):
            return False
        raise
