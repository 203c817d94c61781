"""Sealing the journal: a hash chain over every entry, so that an entry altered,
removed or slipped in after its seal is detected by ``shared.journal_verify``
(docs/reliability.md, "Tamper-evident journal").

A seal covers a range of time ``[from_ms, to_ms)``. Ranges follow one another
without a gap from the first seal, so every millisecond before the head's ``to_ms``
belongs to exactly one seal. A seal lists ``<id> <sha-256>`` for every entry whose id
time is in its range (the hash is over a canonical serialisation of every attribute
of the item as stored), and carries the previous seal's hash: changing anything
sealed changes a listed hash or breaks the chain.

Entries are read by key only: each one has a gsi3 key (its UTC day and one of
``JOURNAL_SHARDS`` shards, sort key ``<iso time>#<id>``), so a range is one Query per
day and shard. The seal is written with ``attribute_not_exists``: two concurrent
runs cannot both write seal n; the loser starts again from the new head.

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

import hashlib
import heapq
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Iterable, Iterator

from pynamodb.exceptions import PutError

from .store import Item, JournalSeal, now
from .store.journal import JOURNAL_SHARDS, SEALS_PARTITION, day_partition, entry_ms, iso_ms

log = logging.getLogger("aidants_connect.journal_seal")

ENTRY_DOMAIN = b"aidants-connect journal entry v1\n"
SEAL_DOMAIN = b"aidants-connect journal seal v1\n"
GENESIS_HASH = "0" * 64
# A line is about 86 bytes: a seal item stays well under DynamoDB's 400 KB.
MAX_ENTRIES_PER_SEAL = 3000
DAY_MS = 86_400_000
MAX_ATTEMPTS = 20  # each failed attempt means another run moved the chain forward


@dataclass(frozen=True)
class Policy:
    grace_seconds: int  # JOURNAL_SEAL_GRACE_SECONDS: longer than any request + index lag + clock skew
    window_seconds: int  # JOURNAL_SEAL_WINDOW_SECONDS: the scheduled run seals up to a multiple of this
    run_seconds: int  # JOURNAL_SEAL_RUN_SECONDS: a scheduled run stops starting seals after this
    since_ms: int | None  # JOURNAL_SEAL_SINCE: where the first seal starts (ISO date or time, UTC)
    lookback_days: int  # otherwise the first seal starts this many days before its end, at midnight UTC


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _parse_since(text: str | None) -> int | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def policy() -> Policy:
    """Read on each use (a few ``os.environ`` lookups) so tests may change it."""
    return Policy(
        grace_seconds=_int_env("JOURNAL_SEAL_GRACE_SECONDS", 300),
        window_seconds=_int_env("JOURNAL_SEAL_WINDOW_SECONDS", 3600),
        run_seconds=_int_env("JOURNAL_SEAL_RUN_SECONDS", 5),
        since_ms=_parse_since(os.environ.get("JOURNAL_SEAL_SINCE")),
        lookback_days=_int_env("JOURNAL_SEAL_LOOKBACK_DAYS", 7),
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- hashing ---------------------------------------------------------------------

def canonical(value) -> bytes:
    """One serialisation per value: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_digest(raw: dict) -> str:
    """SHA-256 of an entry as DynamoDB returns it (every attribute, with its type):
    an attribute changed, added or removed changes it, index keys included."""
    return hashlib.sha256(ENTRY_DOMAIN + canonical(raw)).hexdigest()


@dataclass(frozen=True, order=True)
class Sealed:
    """One entry as a seal lists it; orders by time, then id (the order of the ids)."""
    ms: int
    id: str
    digest: str


def _lines(entries: Iterable[Sealed]) -> str:
    return "\n".join(f"{e.id} {e.digest}" for e in entries)


def _parse_lines(text: str) -> tuple[Sealed, ...]:
    found = []
    for line in text.splitlines():
        entry_id, digest = line.split(" ")
        found.append(Sealed(entry_ms(entry_id), entry_id, digest))
    return tuple(found)


@dataclass(frozen=True)
class Seal:
    seq: int
    from_ms: int
    to_ms: int
    recheck_from_ms: int
    started_ms: int
    rechecked: bool
    prev_hash: str
    seal_hash: str  # as stored
    entries_text: str = field(repr=False)
    late_text: str = field(repr=False)

    def body(self) -> dict:
        """What the hash covers: every field the chain relies on."""
        return {"seq": self.seq, "from_ms": self.from_ms, "to_ms": self.to_ms,
                "recheck_from_ms": self.recheck_from_ms, "started_ms": self.started_ms,
                "rechecked": self.rechecked, "prev_hash": self.prev_hash,
                "entries": self.entries_text, "late": self.late_text}

    def computed_hash(self) -> str:
        return hashlib.sha256(SEAL_DOMAIN + canonical(self.body())).hexdigest()

    @property
    def entries(self) -> tuple[Sealed, ...]:
        return _parse_lines(self.entries_text)

    @property
    def late(self) -> tuple[Sealed, ...]:
        return _parse_lines(self.late_text)

    def at_risk(self, margin_ms: int) -> bool:
        """Cut so close to its run's start that an entry of its range may still have
        been in flight (only a range cut at least the grace before is safe)."""
        return self.to_ms > self.from_ms and self.to_ms > self.started_ms - margin_ms

    @classmethod
    def from_raw(cls, raw: dict) -> "Seal":
        """A seal as read from the table (raw attribute values); ValueError when an
        attribute the chain needs is missing or of the wrong type."""
        try:
            def number(name):
                return int(raw[name]["N"])

            def text(name):
                return raw[name]["S"] if name in raw else ""

            return cls(seq=number("seq"), from_ms=number("from_ms"), to_ms=number("to_ms"),
                       recheck_from_ms=number("recheck_from_ms"), started_ms=number("started_ms"),
                       rechecked=bool(raw["rechecked"]["BOOL"]), prev_hash=raw["prev_hash"]["S"],
                       seal_hash=raw["seal_hash"]["S"], entries_text=text("entries"), late_text=text("late"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable seal {raw.get('sk', {}).get('S', '?')}: {exc!r}") from None


# -- reading by key ----------------------------------------------------------------

def _query(hash_key: str, condition=None, *, index: str | None = None, forward: bool = True,
           consistent: bool = False, page_size: int | None = None) -> Iterator[dict]:
    connection = Item._get_connection()
    start = None
    while True:
        page = connection.query(hash_key, range_key_condition=condition, index_name=index, limit=page_size,
                                exclusive_start_key=start, scan_index_forward=forward, consistent_read=consistent)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def entry_id_of(raw: dict) -> str:
    return raw.get("pk", {}).get("S", "").removeprefix("JOURNAL#")


def _ms_of(raw: dict, fallback: int) -> int:
    """An entry's time from its id; from its index sort key if the id is not one of ours."""
    entry_id = entry_id_of(raw)
    if len(entry_id) > 13 and entry_id[:13].isdigit():
        return entry_ms(entry_id)
    try:
        stamp = raw["gsi3sk"]["S"].split("#", 1)[0]
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except (KeyError, ValueError):
        return fallback


def day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def read_day(day_ms: int, lo: int | None = None, hi: int | None = None) -> Iterator[tuple[Sealed, dict]]:
    """The entries indexed under one UTC day, between ``lo`` and ``hi`` by index sort
    key, each with its digest and raw item, in time order: the shards' Queries are
    merged page by page, so memory holds a page per shard, however busy the day."""
    lo = day_ms if lo is None else lo
    hi = day_ms + DAY_MS if hi is None else hi
    day = iso_ms(day_ms)[:10]
    condition = Item.gsi3sk.between(iso_ms(lo), iso_ms(hi))  # "<iso>#<id>" sorts after "<iso>"
    shards = [((raw.get("gsi3sk", {}).get("S", ""), raw)
               for raw in _query(day_partition(day, shard), condition, index="gsi3"))
              for shard in range(JOURNAL_SHARDS)]
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


def seals(*, newest_first: bool = False) -> Iterator[Seal]:
    """The chain, strongly consistent (a run must see the seal the previous run wrote).
    Newest first, two seals a page: a run reads only its head and the few before it."""
    for raw in _query(SEALS_PARTITION, Item.sk.startswith("SEAL#"), forward=not newest_first, consistent=True,
                      page_size=2 if newest_first else None):
        yield Seal.from_raw(raw)


def raw_seals() -> Iterator[dict]:
    yield from _query(SEALS_PARTITION, Item.sk.startswith("SEAL#"), consistent=True)


# -- sealing -----------------------------------------------------------------------

class _ChainMoved(Exception):
    """Another run wrote the seal this run was about to write."""


@dataclass
class Outcome:
    written: list[Seal]
    head: Seal | None

    def summary(self) -> dict:
        head = self.head
        return {"sealed": len(self.written),
                "entries": sum(len(s.entries) for s in self.written),
                "late": sum(len(s.late) for s in self.written),
                "head": head.seq if head else None,
                "head_hash": head.seal_hash if head else None,
                "sealed_until": iso_ms(head.to_ms) if head else None}

    def line(self) -> str:
        s = self.summary()
        if self.head is None:
            return "no seal written: nothing to seal before the chain's start (JOURNAL_SEAL_SINCE)"
        first = self.written[0].seq if self.written else None
        done = (f"wrote {s['sealed']} seal(s) #{first}..#{s['head']}: {s['entries']} entries, {s['late']} late"
                if self.written else "nothing new to seal")
        return f"{done}; sealed until {s['sealed_until']}; head #{s['head']} sha256:{s['head_hash']}"


def _trail() -> list[Seal]:
    """The head and the seals back to the head's ``recheck_from_ms``, newest first:
    the only ones that may not be settled yet."""
    trail: list[Seal] = []
    for seal in seals(newest_first=True):
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
            for m in newer)
        if not settled:
            oldest = seal.from_ms
    return oldest


def _genesis(until_ms: int) -> int:
    p = policy()
    if p.since_ms is not None:
        return p.since_ms
    return day_start(until_ms) - p.lookback_days * DAY_MS


def _pack(late: list[Sealed], entries: Iterable[Sealed], from_ms: int, to_ms: int):
    """Cut what one run seals into seals of at most MAX_ENTRIES_PER_SEAL lines:
    (from, to, entries, late, late list complete). Late entries go first (alone when
    there are too many), entries of one millisecond stay in one seal."""
    late = sorted(late)
    while len(late) > MAX_ENTRIES_PER_SEAL:
        yield from_ms, from_ms, [], late[:MAX_ENTRIES_PER_SEAL], False
        late = late[MAX_ENTRIES_PER_SEAL:]
    cursor, batch = from_ms, []
    for entry in entries:
        full = len(batch) + len(late) >= MAX_ENTRIES_PER_SEAL
        if full and entry.ms > (batch[-1].ms if batch else cursor):
            yield cursor, entry.ms, batch, late, True
            cursor, batch, late = entry.ms, [], []
        batch.append(entry)
    yield cursor, to_ms, batch, late, True


def _write(prev: Seal | None, from_ms: int, to_ms: int, entries: list[Sealed], late: list[Sealed],
           recheck_from_ms: int, started_ms: int, rechecked: bool) -> Seal:
    seal = Seal(seq=prev.seq + 1 if prev else 1, from_ms=from_ms, to_ms=to_ms, recheck_from_ms=recheck_from_ms,
                started_ms=started_ms, rechecked=rechecked, prev_hash=prev.seal_hash if prev else GENESIS_HASH,
                seal_hash="", entries_text=_lines(entries), late_text=_lines(late))
    digest = seal.computed_hash()
    item = JournalSeal(*JournalSeal.key(seal.seq), seq=seal.seq, from_ms=from_ms, to_ms=to_ms,
                       recheck_from_ms=recheck_from_ms, started_ms=started_ms, rechecked=rechecked,
                       prev_hash=seal.prev_hash, seal_hash=digest, entries=seal.entries_text or None,
                       late=seal.late_text or None, entry_count=len(entries), late_count=len(late),
                       created_at=now())
    try:
        item.save(condition=JournalSeal.pk.does_not_exist())
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise _ChainMoved() from None
        raise
    return replace(seal, seal_hash=digest)


def _seal_once(until_ms: int, deadline: float | None, written: list[Seal]) -> Seal | None:
    started = _now_ms()
    margin = policy().grace_seconds * 1000
    trail = _trail()
    head = trail[0] if trail else None
    late: list[Sealed] = []
    if head is None:
        from_ms = recheck_from = _genesis(until_ms)
    else:
        from_ms = head.to_ms
        recheck_from = _oldest_unsettled(trail, margin)
        if recheck_from is None:
            recheck_from = from_ms
        elif recheck_from < head.to_ms:
            listed = {e.id for seal in trail for e in (*seal.entries, *seal.late)}
            late = [e for e in read_range(recheck_from, head.to_ms) if e.id not in listed]
    if until_ms <= from_ms and not late:
        return head
    prev = head
    for lo, hi, entries, late_part, complete in _pack(late, read_range(from_ms, max(until_ms, from_ms)),
                                                      from_ms, max(until_ms, from_ms)):
        prev = _write(prev, lo, hi, entries, late_part, recheck_from, started, complete)
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
        except _ChainMoved:
            continue  # start again from the seal the other run wrote: no fork, nothing sealed twice
    else:
        head = next(seals(newest_first=True), None)
    return Outcome(written, head)


def seal_now() -> Outcome:
    """``python -m local journal seal``: every entry written before the call."""
    return seal(_now_ms() + 1)


def scheduled_until(at_ms: int) -> int:
    """The last window boundary at least the grace in the past."""
    p = policy()
    window = p.window_seconds * 1000
    return (at_ms - p.grace_seconds * 1000) // window * window


def run_scheduled(at_ms: int | None = None) -> dict:
    """The cron run (functions/journal_seal): closed windows only, within its time budget."""
    until = scheduled_until(_now_ms() if at_ms is None else at_ms)
    return seal(until, deadline=time.monotonic() + policy().run_seconds).summary()
