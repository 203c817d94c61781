"""Latency, throughput and DynamoDB calls, per endpoint."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Recorder:
    """Thread-safe: every client thread records into the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.store_calls: dict[str, list[int]] = defaultdict(list)
        # DynamoDB capacity units per request (X-Store-Units, STORE_MEASURE_CAPACITY).
        self.store_units: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def record(
        self,
        endpoint: str,
        seconds: float,
        status: int,
        store_calls: int | None,
        ok: bool,
        store_units: tuple[float, float] | None = None,
    ) -> None:
        with self._lock:
            self.latencies[endpoint].append(seconds * 1000)
            self.statuses[endpoint][status] += 1
            if store_calls is not None:
                self.store_calls[endpoint].append(store_calls)
            if store_units is not None:
                self.store_units[endpoint].append(store_units)
            if not ok:
                self.errors[endpoint] += 1

    def summary(self, wall_seconds: float) -> dict:
        out = {}
        for endpoint, values in sorted(self.latencies.items()):
            calls = self.store_calls.get(endpoint) or []
            units = self.store_units.get(endpoint) or []
            out[endpoint] = {
                "requests": len(values),
                "rps": round(len(values) / wall_seconds, 1) if wall_seconds else 0,
                "p50_ms": round(percentile(values, 50), 2),
                "p95_ms": round(percentile(values, 95), 2),
                "p99_ms": round(percentile(values, 99), 2),
                "errors": self.errors.get(endpoint, 0),
                "statuses": dict(self.statuses[endpoint]),
                "store_calls_mean": round(statistics.mean(calls), 2) if calls else None,
                "store_calls_max": max(calls) if calls else None,
                "read_units_mean": round(statistics.mean(u[0] for u in units), 3) if units else None,
                "write_units_mean": round(statistics.mean(u[1] for u in units), 3) if units else None,
            }
        return out
