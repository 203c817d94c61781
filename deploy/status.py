"""What ops look at first (``python -m deploy status``, ``python -m local status``):
the outbox's backlog (e-mails due, how late the oldest is, login links apart) and
the e-mails that failed for good, against a deployed table or the local one.

Read-only and bounded: one counting Query per partition of the pending index (4
shards × 2 priorities), one Query for the oldest due item of each, one for the
failed items. It needs ``dynamodb:Query`` on the table's indexes, no secret (the
items' contexts stay sealed; only their template, attempts and last error are shown).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .store_target import point_store_at


@dataclass
class Backlog:
    urgent: int  # login links
    ordinary: int
    oldest_due_seconds: int | None  # how long the longest-waiting due item has waited


def backlog(now: int | None = None) -> Backlog:
    from shared.store import OutboxItem
    from shared.store.outbox import PENDING_SHARDS, pending_partition

    now = now or int(time.time())
    counts = {True: 0, False: 0}
    oldest = None
    for urgent in (True, False):
        for shard in range(PENDING_SHARDS):
            partition = pending_partition(shard, urgent=urgent)
            counts[urgent] += OutboxItem.due_count(partition, now)
            first = next(iter(OutboxItem.due_page(partition, now, 1)), None)
            if first is not None and first.next_attempt_at is not None:
                waited = now - int(first.next_attempt_at)
                oldest = waited if oldest is None else max(oldest, waited)
    return Backlog(urgent=counts[True], ordinary=counts[False], oldest_due_seconds=oldest)


def report(limit: int = 20) -> list[str]:
    from shared import notifications

    pending = backlog()
    lines = [
        f"outbox: {pending.urgent + pending.ordinary} e-mails due ({pending.urgent} login links), "
        + (
            f"the oldest waiting {pending.oldest_due_seconds} s"
            if pending.oldest_due_seconds is not None
            else "none waiting"
        )
    ]
    failed = notifications.failed_items(limit)
    lines.append(
        f"failed e-mails: {len(failed)}{'+' if len(failed) == limit else ''}"
        + (" (newest first; requeue one with notifications.requeue(id))" if failed else "")
    )
    for item in failed:
        lines.append(f"  {item.id}  {item.template}  attempts {item.attempts}  {(item.last_error or '')[:120]}")
    return lines


def status(endpoint: str | None = None, table_name: str | None = None, limit: int = 20) -> list[str]:
    point_store_at(endpoint, table_name)
    return report(limit)
