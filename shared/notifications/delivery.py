"""Delivering the outbox: the kick that asks ``notify`` to send an item now, one
item (the async path), the drain of everything due over one SMTP connection, and
the scheduled run (reminders, then the drain, within its own budget).

Delivery is at-most-once per item in every ordinary case (``outbox``): claimed,
rendered, sent, marked sent at once; see the package docstring for the one way an
e-mail goes twice.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime
from itertools import islice

from pynamodb.exceptions import DoesNotExist

from .. import crypto
from ..config import settings
from ..sandbox import inbox
from ..store import OutboxItem, writes
from . import outbox, reminders, smtp
from .due import DueItems
from .messages import render

log = logging.getLogger("aidants_connect.notifications")

SENT, RETRY, UNREACHABLE, FAILED, EXPIRED, SKIPPED, MISSING = (
    "sent",
    "retry",
    "unreachable",
    "failed",
    "expired",
    "skipped",
    "missing",
)
KICK_ATTEMPTS = 3
KICK_PAUSES_SECONDS = (0.1, 0.3)  # before the second and the third attempt
SMTP_GRACE_SECONDS = 3  # the last exchange of a run ends this long after its budget, at most


# -- asking notify to deliver now ---------------------------------------------------------

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ask_notify(url: str, item_id: str, deadline: float) -> tuple[int, str | None]:
    """POST ``{"item": id}`` to ``/async-function/notify``. A gateway that refuses
    (connection refused or reset, timeout, 429, 5xx: restarting, overloaded) is asked
    again 0.1 s, then 0.3 s later, never past ``deadline`` (``time.monotonic()``).
    Asking twice is harmless: a delivery claims the item first. Returns the attempts
    made and, if none was accepted, why."""
    body = json.dumps({"item": item_id}).encode()
    reason, attempt = "no time left", 0
    while attempt < KICK_ATTEMPTS:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempt += 1
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with _no_proxy.open(request, timeout=remaining) as response:
                response.read()
            return attempt, None
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # refused for what it is: asking again gets the same answer
        except Exception as exc:  # any failure: the change is committed, the schedule catches up
            reason = f"{type(exc).__name__}: {exc}"
        if attempt < KICK_ATTEMPTS:
            pause = KICK_PAUSES_SECONDS[attempt - 1]
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    return attempt, reason


def kick(*items: OutboxItem | None) -> None:
    """Ask OpenFaaS to deliver these items now (``/async-function/notify``: queued,
    answered 202 at once). A gateway that refuses is asked again within
    ``NOTIFY_KICK_BUDGET_SECONDS`` in all (``ask_notify``): the request that wrote
    the items waits no longer. What is still not accepted is logged and left to the
    scheduled run, a minute at most later. Never raises: the change is committed
    already."""
    cfg = settings()
    url = cfg.gateway_url + "/async-function/notify"
    deadline = time.monotonic() + cfg.notify_kick_budget_seconds
    for item in items:
        if item is None:
            continue
        attempts, failure = ask_notify(url, item.id, deadline)
        if failure:
            log.warning(
                "outbox %s: async notify not invoked after %d attempt(s) (%s); the scheduled run will send it",
                item.id,
                attempts,
                failure,
            )


# -- one item --------------------------------------------------------------------------------


def deliver(item_id: str) -> str:
    """Deliver one item if it is pending and due (the async path, one call per
    change). The claim's write returns the item as it leaves it, so the item is not
    read first: two store calls per e-mail (claim, mark sent), not three."""
    at = int(time.time())
    item = OutboxItem(*OutboxItem.key(item_id), id=item_id)
    owner = crypto.new_id()
    if not outbox.claim(item, at, owner):
        try:  # only to say why (rare): gone, or not ours to send now
            OutboxItem.get(*OutboxItem.key(item_id), consistent_read=True)
        except DoesNotExist:
            return MISSING
        return SKIPPED
    with smtp.kept_mailer() as mailer:  # the previous delivery's connection, when it is recent
        return _send_claimed(item, at, owner, mailer)


def deliver_item(item: OutboxItem, at: int | None = None, mailer: smtp.Mailer | None = None) -> str:
    """Claim, render, send, mark sent. Returns what happened (``SENT``, ``RETRY``,
    ``UNREACHABLE`` (a retry because SMTP cannot be reached), ``FAILED``, ``EXPIRED``
    or ``SKIPPED`` when it is not ours to send now). ``mailer`` is the run's SMTP
    connection; without one, the item gets a connection of its own."""
    at = int(at if at is not None else time.time())
    if item.status != "pending":
        return SKIPPED
    if item.deliver_by is not None and at >= item.deliver_by:
        return EXPIRED if outbox.expire(item, at) else SKIPPED
    owner = crypto.new_id()
    if not outbox.claim(item, at, owner):
        return SKIPPED
    if mailer is not None:
        return _send_claimed(item, at, owner, mailer)
    with smtp.Mailer() as own:
        return _send_claimed(item, at, owner, own)


def _send_claimed(item: OutboxItem, at: int, owner: str, mailer: smtp.Mailer) -> str:
    if item.deliver_by is not None and at >= item.deliver_by:
        outbox.expire_claimed(item, at, owner)
        return EXPIRED
    if settings().sandbox and not inbox.has_inbox(item):
        # An e-mail of the sandbox no trainee receives (the public accreditation form's).
        inbox.drop(item)
        outbox.mark_sent(item, at, owner)
        return SENT
    try:
        message = render(item, at)
    except Exception as exc:  # a template or data bug: the same input will fail again
        log.exception("outbox %s: cannot render %s", item.id, item.template)
        outbox.give_up(item, owner, "failed", f"render: {type(exc).__name__}: {exc}")
        return FAILED
    if settings().sandbox:
        # The training sandbox sends no e-mail: the trainee's inbox page shows it.
        inbox.deliver(item, message)
        outbox.mark_sent(item, at, owner)
        return SENT
    try:
        mailer.send(message, item.recipient)
    except Exception as exc:
        if smtp.permanent(exc):
            outbox.give_up(item, owner, "failed", f"{type(exc).__name__}: {exc}")
            return FAILED
        unreachable = smtp.unreachable(exc)
        outbox.retry(item, at, owner, exc, unreachable)
        return UNREACHABLE if unreachable else RETRY
    # Accepted by the relay: marked at once, nothing in between. A crash before
    # this write is the one way the e-mail goes twice (see the package docstring).
    outbox.mark_sent(item, at, owner)
    return SENT


# -- everything due ----------------------------------------------------------------------------


def pending_due(at: int | None = None, limit: int = 100) -> list[OutboxItem]:
    """Up to ``limit`` items due now, urgent ones (login links) first, each kind
    oldest first: one Query per shard of the sparse pending index, of each kind."""
    return list(islice(DueItems(at, page=limit), limit))


def drive_pending(at: int | None = None, deadline: float | None = None, smtp_deadline: float | None = None) -> Counter:
    """Deliver what is due until nothing is, or ``deadline`` (``time.monotonic()``)
    has passed: urgent items first, all over one SMTP connection. Stops at the first
    sign that SMTP is unreachable: the rest stays due, no attempt spent on it.
    ``more`` says whether it stopped with items still due."""
    outcomes: Counter = Counter({SENT: 0, "deferred": 0})
    due = DueItems(at)
    stopped = False
    with smtp.Mailer(smtp_deadline) as mailer:
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
    with writes.budget(budget + SMTP_GRACE_SECONDS + 1):
        written = reminders.compute_reminders(at, deadline=started + budget * 0.4)
        outcomes = drive_pending(
            int(at.timestamp()) if at else None,
            deadline=started + budget,
            smtp_deadline=started + budget + SMTP_GRACE_SECONDS,
        )
    return {
        "reminders": len(written),
        "seconds": round(time.monotonic() - started, 3),
        **{k: outcomes[k] for k in sorted(outcomes)},
    }
