"""The scheduled run that takes expired mandates out of "mandates in force".

Nothing is written when a mandate's time runs out, so the figure can only follow by
a run: every minute (``stats`` function, cron-connector; ``local/scheduler.py``
locally), it reads the expiry index (gsi3 ``EXPIRY#<UTC day>``) for the mandates
whose end has passed and that are still counted, and writes for each one
transaction: the mandate's ``stats_ended_at`` (condition: not set yet, not revoked,
démarches left, really expired) and -1 on ``mandates_active``. The condition makes
it once per mandate: a run repeated, two runs at once, a revocation or a renewal at
the same instant: one write wins, the others are refused and move nothing.

Which days: from the day after the cursor (``ExpiryCursor``: every mandate ending on
or before that day is counted) to today; the cursor moves on once a past day is
done. A run that stops on its budget leaves the cursor where it was and the next
run goes on from there (the mandates it did count are filtered out by the index
Query). A table without a cursor starts yesterday (``python -m deploy stats
backfill`` sets one for a table older than the statistics).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from ..config import settings
from ..store import ExpiryCursor, Mandate, now, transaction
from . import counters


@dataclass
class RunReport:
    counted: int = 0  # mandates taken out of the figure by this run
    refused: int = 0  # counted meanwhile by someone else (another run, a revocation)
    done_through: str | None = None  # the cursor after the run
    complete: bool = True  # False: stopped on its budget, the next run goes on

    def as_dict(self) -> dict:
        return asdict(self)


def first_pending_day(cursor: date | None, today: date) -> date:
    """The first UTC day whose expired mandates may not all be counted yet."""
    return cursor + timedelta(days=1) if cursor else today - timedelta(days=1)


class _CountedMeanwhile(Exception):
    """Another run, a revocation or a renewal took it out first."""


def count_expired(mandate_id: str, at: datetime) -> bool:
    """Take one expired mandate out of the figure: True if this call did."""
    try:
        with transaction(_CountedMeanwhile()) as tx:
            tx.include([Mandate.expiry_counted_operation(mandate_id, at)])
            tx.include(counters.mandate_ended().operations(mandate_id))
    except _CountedMeanwhile:
        return False
    return True


def run_scheduled(at: datetime | None = None) -> dict:
    at = at or now()
    deadline = time.monotonic() + settings().stats_expiry_run_seconds
    report = RunReport()
    today = at.date()
    cursor = ExpiryCursor.read()
    day = first_pending_day(cursor, today)
    while day <= today and report.complete:
        for mandate in Mandate.expired_uncounted(day, at):
            if time.monotonic() >= deadline:
                report.complete = False
                break
            if count_expired(mandate.id, at):
                report.counted += 1
            else:
                report.refused += 1
        if report.complete and day < today:
            ExpiryCursor.advance(day)
            cursor = day
        day += timedelta(days=1)
    report.done_through = cursor.isoformat() if cursor else None
    return report.as_dict()
