"""What OpenFaaS's cron-connector does, for the local gateway.

Functions annotated in ``stack.yml`` with ``topic: cron-function`` and a
``schedule`` (a five-field cron expression) are invoked through the gateway with a
``POST /function/<name>`` and an empty body, as the connector does.

The expression is read by ``cronsim`` (standard cron: ``*``, numbers, ranges, steps,
lists, month and day names, 0 or 7 for Sunday; when both day fields are restricted a
day matching either one matches, as cron does). Only the five fields the connector
takes are accepted: no seconds field, no ``@hourly`` forms, and none of cronsim's
Quartz extensions (``L``, ``W``, ``#``), which the connector would refuse. Times
are in UTC, as the connector runs them.

``LOCAL_CRON_SECONDS=N`` invokes every scheduled function every N seconds instead
(tests use it to run the schedule quickly); ``LOCAL_CRON_SECONDS=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cronsim import CronSim, CronSimError

from . import stack

log = logging.getLogger("scheduler")

# A field of the connector's cron: digits, *, ranges, steps and lists, and the
# three-letter month and day names.
_FIELD = re.compile(r"(?:[0-9*,/-]|[A-Za-z]{3})+")


@dataclass(frozen=True)
class Cron:
    expression: str

    @classmethod
    def parse(cls, expression: str) -> "Cron":
        """The schedule, or ValueError for one the connector would not run."""
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"a cron schedule has five fields: {expression!r}")
        for text in fields:
            if not _FIELD.fullmatch(text):
                raise ValueError(f"{text!r} is not a cron field the connector reads ({expression!r})")
        cron = cls(" ".join(fields))
        try:
            CronSim(cron.expression, datetime(2000, 1, 1, tzinfo=timezone.utc))
        except CronSimError as err:
            raise ValueError(f"{expression!r}: {err}") from None
        return cron

    def next_after(self, at: datetime) -> datetime:
        """The first minute after ``at`` (to the minute) that the schedule matches."""
        try:
            return next(CronSim(self.expression, at.replace(second=0, microsecond=0)))
        except StopIteration:  # cronsim gives up after 50 years without a match
            raise ValueError(f"schedule {self.expression!r} never matches") from None

    def matches(self, at: datetime) -> bool:
        minute = at.replace(second=0, microsecond=0)
        return self.next_after(minute - timedelta(minutes=1)) == minute


def scheduled_functions(path=None, profile: str | None = None) -> dict[str, Cron]:
    """Functions with the cron-connector's annotations, and their schedules."""
    found = {}
    for name, fn in stack.functions(path, profile).items():
        annotations = fn.spec.get("annotations") or {}
        if annotations.get("topic") == "cron-function" and annotations.get("schedule"):
            found[name] = Cron.parse(str(annotations["schedule"]))
    return found


class Scheduler:
    def __init__(self, gateway_url: str, every_seconds: float | None = None, profile: str | None = None):
        self.gateway_url = gateway_url.rstrip("/")
        self.every_seconds = every_seconds
        self.schedules = scheduled_functions(profile=profile)
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


def start(gateway_url: str, profile: str | None = None) -> Scheduler:
    every = os.environ.get("LOCAL_CRON_SECONDS")
    return Scheduler(gateway_url, float(every) if every not in (None, "") else None, profile).start()
