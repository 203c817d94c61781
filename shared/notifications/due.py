"""The items due now, in delivery order: the sharded pending index walked login
links first, a page at a time, never a Scan (``shared.store.outbox``)."""

from __future__ import annotations

import time

from ..store import OutboxItem
from ..store.outbox import PENDING_SHARDS, pending_partition

PAGE = 100  # items read per Query of one partition
URGENT_RECHECK_SECONDS = 1.0  # how often a long drain looks for new urgent items


class _Partition:
    """One gsi1 partition of pending items. ``resume``: each read starts after the
    last item read (a backlog, read once through); otherwise from the start of the
    due range (the urgent ones, looked at again and again)."""

    def __init__(self, name: str, resume: bool):
        self.name, self.resume = name, resume
        self.cursor: dict | None = None  # the index position of the last item read
        self.exhausted = False

    def read(self, at: int, limit: int) -> list[OutboxItem]:
        found = OutboxItem.due_page(self.name, at, limit, after=self.cursor)
        if found and self.resume:
            self.cursor = found[-1].index_position()
        self.exhausted = len(found) < limit
        return found


class DueItems:
    """Every item due now, urgent ones first, each kind oldest first, read a page at
    a time with one Query per partition (never a Scan).

    The ordinary partitions are read once through, a cursor each: nothing is read
    twice, so an item just sent that a lagging index still lists is not met again.
    The urgent ones are looked at again every second of a long drain, so a login
    link written meanwhile (its kick lost) waits a second, not the rest of the
    backlog; from the start of their due range each time, since a link written in
    the cursor's second may sort before it, and skipping what this run has already
    handed out (what it handled has left the due range, unless the index lags). An
    item another delivery holds has moved past ``now`` (its lease) anyway.

    ``at`` (epoch seconds) fixes "now" (tests); by default it is the clock's.
    """

    def __init__(self, at: int | None = None, page: int | None = None):
        self._at = at
        self.page = page or PAGE
        self._urgent = [_Partition(pending_partition(s, urgent=True), resume=False) for s in range(PENDING_SHARDS)]
        self._normal = [_Partition(pending_partition(s), resume=True) for s in range(PENDING_SHARDS)]
        self._urgent_items: list[OutboxItem] = []
        self._normal_items: list[OutboxItem] = []
        self._handed_out: set[str] = set()  # urgent items, by id
        self._looked: float | None = None  # time.monotonic() of the last look at the urgent partitions

    def _read(self, partitions) -> list[OutboxItem]:
        at = self._at if self._at is not None else int(time.time())
        found = [item for p in partitions for item in p.read(at, self.page)]
        return sorted(found, key=lambda i: i.due_position)

    def _look_urgent(self) -> None:
        self._urgent_items = [i for i in self._read(self._urgent) if i.id not in self._handed_out]
        self._looked = time.monotonic()

    def _next_urgent(self) -> OutboxItem:
        item = self._urgent_items.pop(0)
        self._handed_out.add(item.id)
        return item

    def _time_to_look(self) -> bool:
        return self._looked is None or time.monotonic() - self._looked >= URGENT_RECHECK_SECONDS

    def __iter__(self) -> "DueItems":
        return self

    def __next__(self) -> OutboxItem:
        if not self._urgent_items and self._time_to_look():
            self._look_urgent()
        if self._urgent_items:
            return self._next_urgent()
        if not self._normal_items:
            self._normal_items = self._read([p for p in self._normal if not p.exhausted])
        if self._normal_items:
            return self._normal_items.pop(0)
        if self._time_to_look():  # a last look before calling the backlog empty
            self._look_urgent()
            if self._urgent_items:
                return self._next_urgent()
        raise StopIteration

    def buffered(self) -> int:
        """Items read but not yet handed out."""
        return len(self._urgent_items) + len(self._normal_items)
