"""The links of the hash chain: what a seal lists (``<id> <sha-256>`` per entry, the
hash over a canonical serialisation of every attribute of the item as stored),
what its own hash covers, reading the chain and appending a link.

A seal covers a range of time ``[from_ms, to_ms)``. Ranges follow one another
without a gap from the first seal, and each seal carries the previous seal's hash:
changing anything sealed changes a listed hash or breaks the chain. A seal is
written with ``attribute_not_exists``: two concurrent runs cannot both write seal
n (:class:`ChainMoved`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

from ..store import JournalSeal, now, writes
from ..store.journal import entry_ms, raw_seals

ENTRY_DOMAIN = b"aidants-connect journal entry v1\n"
SEAL_DOMAIN = b"aidants-connect journal seal v1\n"
GENESIS_HASH = "0" * 64


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


def lines(entries: Iterable[Sealed]) -> str:
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
        return {
            "seq": self.seq,
            "from_ms": self.from_ms,
            "to_ms": self.to_ms,
            "recheck_from_ms": self.recheck_from_ms,
            "started_ms": self.started_ms,
            "rechecked": self.rechecked,
            "prev_hash": self.prev_hash,
            "entries": self.entries_text,
            "late": self.late_text,
        }

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

            return cls(
                seq=number("seq"),
                from_ms=number("from_ms"),
                to_ms=number("to_ms"),
                recheck_from_ms=number("recheck_from_ms"),
                started_ms=number("started_ms"),
                rechecked=bool(raw["rechecked"]["BOOL"]),
                prev_hash=raw["prev_hash"]["S"],
                seal_hash=raw["seal_hash"]["S"],
                entries_text=text("entries"),
                late_text=text("late"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable seal {raw.get('sk', {}).get('S', '?')}: {exc!r}") from None


# -- reading the chain ----------------------------------------------------------------


def seals(*, newest_first: bool = False) -> Iterator[Seal]:
    """The chain, strongly consistent (a run must see the seal the previous run wrote).
    Newest first, two seals a page: a run reads only its head and the few before it."""
    for raw in raw_seals(newest_first=newest_first, page_size=2 if newest_first else None):
        yield Seal.from_raw(raw)


# -- appending a link ---------------------------------------------------------------------


class ChainMoved(Exception):
    """Another run wrote the seal this run was about to write."""


def append(
    prev: Seal | None,
    from_ms: int,
    to_ms: int,
    entries: list[Sealed],
    late: list[Sealed],
    recheck_from_ms: int,
    started_ms: int,
    rechecked: bool,
) -> Seal:
    """Write the seal after ``prev`` (the first one when None); ChainMoved if another
    run wrote that seal number first."""
    seal = Seal(
        seq=prev.seq + 1 if prev else 1,
        from_ms=from_ms,
        to_ms=to_ms,
        recheck_from_ms=recheck_from_ms,
        started_ms=started_ms,
        rechecked=rechecked,
        prev_hash=prev.seal_hash if prev else GENESIS_HASH,
        seal_hash="",
        entries_text=lines(entries),
        late_text=lines(late),
    )
    digest = seal.computed_hash()
    item = JournalSeal(
        *JournalSeal.key(seal.seq),
        seq=seal.seq,
        from_ms=from_ms,
        to_ms=to_ms,
        recheck_from_ms=recheck_from_ms,
        started_ms=started_ms,
        rechecked=rechecked,
        prev_hash=seal.prev_hash,
        seal_hash=digest,
        entries=seal.entries_text or None,
        late=seal.late_text or None,
        entry_count=len(entries),
        late_count=len(late),
        created_at=now(),
    )
    # attribute_not_exists, except for a re-sent copy of this very write (store/writes.py).
    if not writes.put_new(item):
        raise ChainMoved()
    return replace(seal, seal_hash=digest)
