"""The sealing run: every entry up to a cut, and the late entries of the seals not
yet settled, into new links of the chain (docs/reliability.md, "Tamper-evident
journal").

**Late entries.** An entry's time is taken before its transaction commits, so a
request in flight while a range is being sealed can commit an entry inside that
range afterwards. The scheduled run seals only up to the last window boundary older
than the grace (``JOURNAL_SEAL_GRACE_SECONDS``, 300 s: far longer than a request's
8 s budget plus index lag and clock skew), so its seals cannot miss one. A seal cut
closer to its run's start (``python -m local journal seal`` cuts at "now") is *at
risk*; every run looks again at the ranges of the at-risk seals not yet *settled*,
and lists the entries it finds there that no seal lists as ``late`` in its own seal.
A seal is settled once a run that started at least the grace after it looked again
at its range and listed all it found (``rechecked``): no late entry can commit after
that. ``recheck_from_ms`` records where a run looked from: every seal before it is
settled, so a run only reads the seals back to its head's ``recheck_from_ms``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable

from ..config import settings
from ..store.journal import iso_ms
from . import chain, windows
from .chain import Seal, Sealed
from .windows import DAY_MS, day_start, read_range

log = logging.getLogger("aidants_connect.journal_seal")

# A line is about 86 bytes: a seal item stays well under DynamoDB's 400 KB.
MAX_ENTRIES_PER_SEAL = 3000
MAX_ATTEMPTS = 20  # each failed attempt means another run moved the chain forward


@dataclass
class Outcome:
    written: list[Seal]
    head: Seal | None

    def summary(self) -> dict:
        head = self.head
        return {
            "sealed": len(self.written),
            "entries": sum(len(s.entries) for s in self.written),
            "late": sum(len(s.late) for s in self.written),
            "head": head.seq if head else None,
            "head_hash": head.seal_hash if head else None,
            "sealed_until": iso_ms(head.to_ms) if head else None,
        }

    def line(self) -> str:
        s = self.summary()
        if self.head is None:
            return "no seal written: nothing to seal before the chain's start (JOURNAL_SEAL_SINCE)"
        first = self.written[0].seq if self.written else None
        done = (
            f"wrote {s['sealed']} seal(s) #{first}..#{s['head']}: {s['entries']} entries, {s['late']} late"
            if self.written
            else "nothing new to seal"
        )
        return f"{done}; sealed until {s['sealed_until']}; head #{s['head']} sha256:{s['head_hash']}"


def _trail() -> list[Seal]:
    """The head and the seals back to the head's ``recheck_from_ms``, newest first:
    the only ones that may not be settled yet."""
    trail: list[Seal] = []
    for seal in chain.seals(newest_first=True):
        trail.append(seal)
        if seal.from_ms <= trail[0].recheck_from_ms:
            break
    return trail


def _oldest_unsettled(trail: list[Seal], margin_ms: int) -> int | None:
    """Where to look again for late entries: the start of the oldest seal of the
    trail that is not settled, or None when all are."""
    oldest = None
    for i, seal in enumerate(trail):
        newer = trail[:i]
        settled = not seal.at_risk(margin_ms) or any(
            m.rechecked and m.recheck_from_ms <= seal.from_ms and m.started_ms >= seal.started_ms + margin_ms
            for m in newer
        )
        if not settled:
            oldest = seal.from_ms
    return oldest


def _genesis(until_ms: int) -> int:
    cfg = settings()
    if cfg.journal_seal_since_ms is not None:
        return cfg.journal_seal_since_ms
    return day_start(until_ms) - cfg.journal_seal_lookback_days * DAY_MS


def _pack(late: list[Sealed], entries: Iterable[Sealed], from_ms: int, to_ms: int):
    """Cut what one run seals into seals of at most MAX_ENTRIES_PER_SEAL lines:
    (from, to, entries, late, late list complete). Late entries go first (alone when
    there are too many), entries of one millisecond stay in one seal."""
    late = sorted(late)
    while len(late) > MAX_ENTRIES_PER_SEAL:
        yield from_ms, from_ms, [], late[:MAX_ENTRIES_PER_SEAL], False
        late = late[MAX_ENTRIES_PER_SEAL:]
    cursor = from_ms
    batch: list[Sealed] = []
    for entry in entries:
        full = len(batch) + len(late) >= MAX_ENTRIES_PER_SEAL
        if full and entry.ms > (batch[-1].ms if batch else cursor):
            yield cursor, entry.ms, batch, late, True
            cursor, batch, late = entry.ms, [], []
        batch.append(entry)
    yield cursor, to_ms, batch, late, True


def _start(trail: list[Seal], until_ms: int) -> tuple[int, int, list[Sealed]]:
    """Where this run's seals start, where it looked again from, and the late
    entries it found there (those no seal of the trail lists)."""
    head = trail[0] if trail else None
    if head is None:
        genesis = _genesis(until_ms)
        return genesis, genesis, []
    recheck_from = _oldest_unsettled(trail, settings().journal_seal_grace_seconds * 1000)
    if recheck_from is None:
        return head.to_ms, head.to_ms, []
    if recheck_from >= head.to_ms:
        return head.to_ms, recheck_from, []
    listed = {e.id for seal in trail for e in (*seal.entries, *seal.late)}
    return head.to_ms, recheck_from, [e for e in read_range(recheck_from, head.to_ms) if e.id not in listed]


def _seal_once(until_ms: int, deadline: float | None, written: list[Seal]) -> Seal | None:
    started = windows.now_ms()
    trail = _trail()
    head = trail[0] if trail else None
    from_ms, recheck_from, late = _start(trail, until_ms)
    if until_ms <= from_ms and not late:
        return head
    prev, to_ms = head, max(until_ms, from_ms)
    for lo, hi, entries, late_part, complete in _pack(late, read_range(from_ms, to_ms), from_ms, to_ms):
        prev = chain.append(prev, lo, hi, entries, late_part, recheck_from, started, complete)
        written.append(prev)
        if late_part:
            log.info("seal #%s lists %d late entries", prev.seq, len(late_part))
        if complete and deadline is not None and time.monotonic() > deadline:
            break  # the next run goes on from this head
    return prev


def seal(until_ms: int, *, deadline: float | None = None) -> Outcome:
    """Seal every entry whose time is before ``until_ms`` (and the late entries of
    the seals not yet settled). ``deadline`` (``time.monotonic()``) stops starting
    new seals; the next run continues from the head."""
    written: list[Seal] = []
    head = None
    for _ in range(MAX_ATTEMPTS):
        try:
            head = _seal_once(until_ms, deadline, written)
            break
        except chain.ChainMoved:
            continue  # start again from the seal the other run wrote: no fork, nothing sealed twice
    else:
        head = next(chain.seals(newest_first=True), None)
    return Outcome(written, head)


def seal_now() -> Outcome:
    """``python -m local journal seal``: every entry written before the call."""
    return seal(windows.now_ms() + 1)


def scheduled_until(at_ms: int) -> int:
    """The last window boundary at least the grace in the past."""
    cfg = settings()
    window = cfg.journal_seal_window_seconds * 1000
    return (at_ms - cfg.journal_seal_grace_seconds * 1000) // window * window


def run_scheduled(at_ms: int | None = None) -> dict:
    """The cron run (functions/journal_seal): closed windows only, within its time budget."""
    until = scheduled_until(windows.now_ms() if at_ms is None else at_ms)
    return seal(until, deadline=time.monotonic() + settings().journal_seal_run_seconds).summary()
