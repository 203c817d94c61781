"""An outbox item's life: written pending with the change it reports, claimed with a
lease for one attempt, then sent, retried with back-off, given up (failed, for ops)
or, for a link that died before it could leave, expired.

Every write here is conditional (``shared.store.outbox``): only a pending, due,
unleased item is claimed, and only the lease holder marks what became of it, so two
concurrent deliveries send one e-mail.
"""

from __future__ import annotations

import json
import logging
import time

from .. import crypto
from ..config import settings
from ..store import OutboxItem, now

log = logging.getLogger("aidants_connect.notifications")

SENT_RETENTION_SECONDS = 30 * 24 * 3600  # sent items are kept a month, then TTL'd
CLOCK_SKEW_SECONDS = 5  # the writer's clock may be a little ahead of notify's
URGENT_UNREACHABLE_RETRY_SECONDS = 5
REASON_CHARS = 500  # of an error, kept on the item


# -- a new item ------------------------------------------------------------------------


def new_item(
    template: str,
    recipient: str,
    context: dict,
    *,
    deliver_by: int | None = None,
    max_attempts: int | None = None,
    ttl: int | None = None,
    inbox: str | None = None,
) -> OutboxItem:
    """A pending outbox item, due now, to write in the caller's transaction. One with
    a ``deliver_by`` (useless after it) goes to the urgent partitions, read first.
    ``ttl`` for an item an anonymous request writes: even failed, it does not stay
    for good (sending it sets the usual retention). ``inbox``: the structure whose
    e-mails these are, which in the training sandbox receives it instead of the
    recipient (``shared.sandbox.inbox``); not stored in production."""
    item_id = crypto.new_id()
    pk, _ = OutboxItem.key(item_id)
    if settings().sandbox:
        from ..sandbox.inbox import NO_INBOX

        attributes = {"inbox": inbox or NO_INBOX}
    else:
        attributes = {}
    return OutboxItem.pending(
        item_id,
        int(time.time()),
        template=template,
        recipient=recipient,
        sealed_context=crypto.seal(json.dumps(context, ensure_ascii=False, separators=(",", ":")), f"outbox:{pk}"),
        max_attempts=max_attempts or settings().outbox_max_attempts,
        deliver_by=deliver_by,
        created_at=now(),
        ttl=ttl,
        **attributes,
    )


def save_condition():
    return OutboxItem.new_condition()


def operation(item: OutboxItem) -> tuple[str, OutboxItem, dict]:
    """The item as one ``extra`` operation of ``shared.mandates.create``."""
    return ("save", item, {"condition": save_condition()})


def context_of(item: OutboxItem) -> dict:
    return json.loads(crypto.unseal(item.sealed_context, f"outbox:{item.pk}"))


# -- claimed by one delivery ---------------------------------------------------------------


def claim(item: OutboxItem, at: int, owner: str) -> bool:
    """Take the item for one delivery attempt: only if still pending, due, and not
    leased by a live delivery. Two concurrent deliveries: one wins, one skips."""
    return item.claim(at, owner, lease_end=at + settings().outbox_lease_seconds, skew=CLOCK_SKEW_SECONDS)


def _held(item: OutboxItem, written: bool) -> bool:
    if not written:
        log.warning("outbox %s: lease lost during delivery; another delivery took over", item.id)
    return written


def mark_sent(item: OutboxItem, at: int, owner: str) -> None:
    _held(item, item.mark_sent(owner, keep_until=at + SENT_RETENTION_SECONDS))


def _expiry_reason(item: OutboxItem, at: int) -> str:
    return f"expired {at - item.deliver_by} s before it could be sent"


def _log_expired(item: OutboxItem, at: int) -> None:
    # Not an error for ops: nothing to requeue (the link is dead); the aidant, told
    # the link lasts five minutes, asks for another, which goes out first.
    log.warning(
        "outbox %s (%s) not sent: its link expired %d s before it could be sent (attempts %d)",
        item.id,
        item.template,
        at - item.deliver_by,
        item.attempts,
    )


def expire_claimed(item: OutboxItem, at: int, owner: str) -> None:
    """The link died while this delivery held it."""
    if _held(item, item.expire_claimed(owner, _expiry_reason(item, at), at + SENT_RETENTION_SECONDS)):
        _log_expired(item, at)


def expire(item: OutboxItem, at: int) -> bool:
    """A dead link found in the index: one conditional write, no claim (only if still
    pending and not held by a live delivery)."""
    if not item.expire(at, _expiry_reason(item, at), at + SENT_RETENTION_SECONDS):
        return False
    _log_expired(item, at)
    return True


def give_up(item: OutboxItem, owner: str, status: str, reason: str) -> None:
    if _held(item, item.give_up(owner, status, reason[:REASON_CHARS])):
        # Ops find it with failed_items(); the recipient's address stays out of the logs.
        log.error("outbox %s (%s) %s after %d attempt(s): %s", item.id, item.template, status, item.attempts, reason)


# -- retries -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> int:
    cfg = settings()
    return min(cfg.outbox_retry_max_seconds, cfg.outbox_retry_base_seconds * 2 ** max(0, attempts - 1))


def retry_after(item: OutboxItem, unreachable: bool) -> int:
    """Seconds before the next attempt. A link (minutes to live) that failed because
    the relay could not be reached, not because this message was refused, is due
    again at once: otherwise, when SMTP comes back, links kicked in the outage's
    last half-minute would sit out their back-off. No storm follows: a run stops at
    the first unreachable relay, so an outage costs one attempt per run."""
    if item.deliver_by is not None and unreachable:
        return URGENT_UNREACHABLE_RETRY_SECONDS
    return retry_delay(int(item.attempts))  # a NumberAttribute (float to mypy), always whole


def retry(item: OutboxItem, at: int, owner: str, exc: Exception, unreachable: bool) -> None:
    """A failed attempt: again after its back-off, or given up after the last one."""
    reason = f"{type(exc).__name__}: {exc}"
    if item.attempts >= item.max_attempts:
        give_up(item, owner, "failed", reason)
        return
    due = at + retry_after(item, unreachable)
    if _held(item, item.reschedule(owner, due, reason[:REASON_CHARS])):
        log.warning(
            "outbox %s (%s) attempt %d failed, next in %d s: %s",
            item.id,
            item.template,
            item.attempts,
            due - at,
            reason,
        )
