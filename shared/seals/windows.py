"""The journal's entries by time: every entry has a gsi3 key (its UTC day and one of
``JOURNAL_SHARDS`` shards, sort key ``<iso time>#<id>``), so the entries of a range
are one Query per day and shard, merged in time order, never a Scan."""

from __future__ import annotations

import heapq
import time
from datetime import datetime
from typing import Iterator

from ..store.journal import JOURNAL_SHARDS, entry_ms, iso_ms, raw_entries_of_day, raw_entry_id, raw_position
from .chain import Sealed, entry_digest

DAY_MS = 86_400_000


def now_ms() -> int:
    """The clock of the seal runs and of verify (tests replace it)."""
    return int(time.time() * 1000)


def day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def entry_id_of(raw: dict) -> str:
    return raw_entry_id(raw)


def _ms_of(raw: dict, fallback: int) -> int:
    """An entry's time from its id; from its index sort key if the id is not one of ours."""
    entry_id = entry_id_of(raw)
    if len(entry_id) > 13 and entry_id[:13].isdigit():
        return entry_ms(entry_id)
    try:
        stamp = raw_position(raw).split("#", 1)[0]
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except ValueError:
        return fallback


def read_day(day_ms: int, lo: int | None = None, hi: int | None = None) -> Iterator[tuple[Sealed, dict]]:
    """The entries indexed under one UTC day, between ``lo`` and ``hi`` by index sort
    key, each with its digest and raw item, in time order: the shards' Queries are
    merged page by page, so memory holds a page per shard, however busy the day."""
    lo = day_ms if lo is None else lo
    hi = day_ms + DAY_MS if hi is None else hi
    day = iso_ms(day_ms)[:10]
    # "<iso>#<id>" sorts after "<iso>": the range is [lo, hi] by time.
    shards = [
        ((raw_position(raw), raw) for raw in raw_entries_of_day(day, shard, iso_ms(lo), iso_ms(hi)))
        for shard in range(JOURNAL_SHARDS)
    ]
    for _, raw in heapq.merge(*shards, key=lambda pair: pair[0]):
        yield Sealed(_ms_of(raw, lo), entry_id_of(raw), entry_digest(raw)), raw


def read_range(from_ms: int, to_ms: int) -> Iterator[Sealed]:
    """Every entry whose id time is in ``[from_ms, to_ms)``, in time order."""
    day = day_start(from_ms)
    while day < to_ms:
        lo, hi = max(from_ms, day), min(to_ms, day + DAY_MS)
        for entry, _ in read_day(day, lo, hi):
            if lo <= entry.ms < hi:
                yield entry
        day += DAY_MS
