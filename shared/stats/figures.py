"""The public figures (``GET /api/stats``): every counter read with one BatchGetItem
of the shard items, summed, and shaped as openapi.yaml describes. Aggregates only: no
name, no id, nothing about anyone.

The answer is kept ``STATS_CACHE_SECONDS`` per process (0: read at every request),
so a public page that many open costs the store one read per process and period;
concurrent requests of a process share one read.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from ..config import settings
from ..demarches import DEMARCHES
from ..store import StatsShard
from . import counters


def totals(consistent: bool = False) -> dict[str, int]:
    """Every counter, summed over the shards (counters never written are absent)."""
    summed: dict[str, int] = {}
    for shard in StatsShard.read_all(consistent=consistent):
        for name, value in shard.items():
            summed[name] = summed.get(name, 0) + value
    return summed


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def shape(summed: dict[str, int], at: datetime) -> dict:
    """The JSON of ``/api/stats`` from the summed counters: every démarche category
    and every month from the first one counted to the current one, zeros included,
    so a chart has no hole."""
    current = counters.month_of(at)
    counted = sorted(
        {name[len(counters.MONTH_PREFIX) :][:7] for name in summed if name.startswith(counters.MONTH_PREFIX)}
    )
    months = _months(min(counted[0], current) if counted else current, current)
    return {
        "updated_at": at.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "totals": {name: summed.get(name, 0) for name in counters.TOTALS},
        "demarches_done_by_category": {key: summed.get(counters.category(key), 0) for key in DEMARCHES},
        "monthly": [
            {
                "month": month,
                **{series: summed.get(counters.monthly(month, series), 0) for series in counters.MONTHLY_SERIES},
            }
            for month in months
        ],
    }


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answer: dict | None = None
        self.until = 0.0


_cache = _Cache()


def figures() -> dict:
    ttl = settings().stats_cache_seconds
    if ttl <= 0:
        return shape(totals(), datetime.now(timezone.utc))
    with _cache.lock:  # one read per process and period, however many ask at once
        if _cache.answer is None or time.monotonic() >= _cache.until:
            _cache.answer = shape(totals(), datetime.now(timezone.utc))
            _cache.until = time.monotonic() + ttl
        return _cache.answer


def forget_cached() -> None:
    """Tests that change the counters under one process."""
    _cache.answer, _cache.until = None, 0.0
