"""For ops: the items given up on, and a fresh start for one of them."""

from __future__ import annotations

import time

from pynamodb.exceptions import DoesNotExist

from ..store import OutboxItem


def failed_items(limit: int = 50) -> list[OutboxItem]:
    """Failed items, newest first (their own partition of the index, not a Scan)."""
    return OutboxItem.failed(limit)


def requeue(item_id: str) -> bool:
    """Give a failed item a fresh set of attempts, due now. (An expired login link is
    not requeued: its link is dead.)"""
    due = int(time.time())
    try:
        item = OutboxItem.get(*OutboxItem.key(item_id), consistent_read=True)
    except DoesNotExist:
        return False
    return item.requeue(due)
