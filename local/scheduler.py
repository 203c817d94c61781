"""What OpenFaaS's cron-connector does, for the local gateway.

Functions annotated in ``stack.yml`` with ``topic: cron-function`` and a
``schedule`` (a five-field cron expression) are invoked through the gateway with a
``POST /function/<name>`` and an empty body, as the connector does.

Cron syntax understood: ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``,
and lists of those, in each of minute, hour, day of month, month, day of week (0 or 7
is Sunday); no names (``mon``, ``jan``) and no ``@hourly`` forms. When both day
fields are restricted, a day matching either one matches (as cron does). Times are
in UTC, as the connector runs them.

``LOCAL_CRON_SECONDS=N`` invokes every scheduled function every N seconds instead
(tests use it to run the schedule quickly); ``LOCAL_CRON_SECONDS=0`` turns it off.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import stack

log = logging.getLogger("scheduler")

_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _parse_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {text!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (int(v) for v in body.split("-", 1))
        else:
            start = int(body)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ValueError(f"{part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Cron:
    minutes: frozenset
    hours: frozenset
    days: frozenset
    months: frozenset
    weekdays: frozenset  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> "Cron":
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"a cron schedule has five fields: {expression!r}")
        sets = [_parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, _FIELDS)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), frozenset(sets[3]),
                   weekdays, fields[2] == "*", fields[4] == "*")

    def matches(self, at: datetime) -> bool:
        if at.minute not in self.minutes or at.hour not in self.hours or at.month not in self.months:
            return False
        day = at.day in self.days
        weekday = (at.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday

    def next_after(self, at: datetime) -> datetime:
        moment = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if self.matches(moment):
                return moment
            moment += timedelta(minutes=1)
        raise ValueError("schedule never matches")


def scheduled_functions(path=None) -> dict[str, Cron]:
    """Functions with the cron-connector's annotations, and their schedules."""
    found = {}
    for name, fn in stack.functions(path).items():
        annotations = fn.spec.get("annotations") or {}
        if annotations.get("topic") == "cron-function" and annotations.get("schedule"):
            found[name] = Cron.parse(str(annotations["schedule"]))
    return found


class Scheduler:
    def __init__(self, gateway_url: str, every_seconds: float | None = None):
        self.gateway_url = gateway_url.rstrip("/")
        self.every_seconds = every_seconds
        self.schedules = scheduled_functions()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-cron", daemon=True)

    def start(self) -> "Scheduler":
        if self.schedules and self.every_seconds != 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def invoke(self, name: str) -> None:
        request = urllib.request.Request(f"{self.gateway_url}/function/{name}", data=b"", method="POST")
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=60) as r:
                log.info("cron %s -> %s %s", name, r.status, r.read(200).decode(errors="replace"))
        except Exception as exc:  # as the connector: log, and try again at the next tick
            log.warning("cron %s failed: %s", name, exc)

    def _run(self) -> None:
        if self.every_seconds:
            while not self._stop.wait(self.every_seconds):
                for name in self.schedules:
                    self.invoke(name)
            return
        next_runs = {name: cron.next_after(datetime.now(timezone.utc)) for name, cron in self.schedules.items()}
        while not self._stop.wait(1):
            current = datetime.now(timezone.utc)
            for name, due in next_runs.items():
                if current >= due:
                    next_runs[name] = self.schedules[name].next_after(current)
                    self.invoke(name)


def start(gateway_url: str) -> Scheduler:
    every = os.environ.get("LOCAL_CRON_SECONDS")
    return Scheduler(gateway_url, float(every) if every not in (None, "") else None).start()
