"""Checking the journal against its seals (``python -m local journal verify``,
``python -m deploy journal verify``).

Walks the chain from the first seal: each seal's hash must match its content, its
``prev_hash`` the previous seal's hash, its range must start where the previous one
ended. The entries are read by key, one UTC day at a time (one Query per day and
shard of gsi3), and matched against the lines of the seals:

* a listed entry whose item no longer has the listed hash was **altered**;
* a listed entry found neither in its window nor by its key was **removed** (one
  GetItem per entry missing from its window, so an entry moved out of the index by
  changing its keys is reported as altered, not removed);
* an entry in a sealed range that no seal lists was **inserted** after its seal.

What it cannot see (docs/reliability.md): an entry changed before it was sealed; a
rewrite of entries together with every later seal (unless ``anchor`` names a seal
hash kept elsewhere); seals cut off at the end of the chain (same).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..store.journal import iso_ms, raw_entry, raw_seals
from . import windows
from .chain import GENESIS_HASH, Seal, Sealed, entry_digest
from .windows import DAY_MS, day_start, read_day

MAX_LISTED = 20  # problems printed after the first


@dataclass(frozen=True)
class Problem:
    ms: int
    seq: int
    entry_id: str | None  # None: the seal itself
    what: str

    def order(self) -> tuple:
        return self.ms, self.seq, self.entry_id or "", self.what

    def line(self) -> str:
        if self.entry_id is None:
            return f"seal #{self.seq}: {self.what}"
        return f"entry {self.entry_id} ({iso_ms(self.ms)}) {self.what}"


@dataclass
class Report:
    seals: int = 0
    entries: int = 0
    late: int = 0
    unsealed: int = 0
    first_from: int | None = None
    head: Seal | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.problems:
            ordered = sorted(self.problems, key=Problem.order)
            lines = [f"journal NOT intact: {ordered[0].line()}"]
            if len(ordered) > 1:
                lines.append(f"{len(ordered) - 1} more problem(s):")
                lines.extend(f"  {p.line()}" for p in ordered[1 : 1 + MAX_LISTED])
            return lines
        if self.head is None or self.first_from is None:  # both set by the first seal
            return ["journal intact: no seal yet, nothing to verify"]
        return [
            f"journal intact: {self.seals} seal(s) from {iso_ms(self.first_from)} to {iso_ms(self.head.to_ms)}, "
            f"{self.entries} entries ({self.late} sealed late), {self.unsealed} newer not sealed yet; "
            f"head #{self.head.seq} sha256:{self.head.seal_hash}"
        ]


def parse_anchor(text: str) -> tuple[int, str]:
    """``<seq>:<hash>``, a seal hash kept outside the table (e.g. printed by an
    earlier verify)."""
    seq, _, digest = text.partition(":")
    digest = digest.removeprefix("sha256:").lower()
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"anchor {text!r} is not <seq>:<sha-256 hex>")
    return int(seq), digest


class _Verifier:
    def __init__(self, anchor: tuple[int, str] | None):
        self.report = Report()
        self.anchor = anchor
        self.loaded: dict[str, Sealed] = {}  # read from the index, not matched yet
        self.next_day: int | None = None
        self.ranges: list[tuple[int, int, int]] = []  # (from, to, seq), to place an inserted entry

    def problem(self, ms: int, seq: int, entry_id: str | None, what: str) -> None:
        self.report.problems.append(Problem(ms, seq, entry_id, what))

    def load_until(self, until_ms: int) -> None:
        if self.next_day is None:  # set by the first seal (check_seal)
            raise RuntimeError("entries are read from the first seal's day: no seal read yet")
        while self.next_day < until_ms:
            for entry, _ in read_day(self.next_day):
                self.loaded[entry.id] = entry
            self.next_day += DAY_MS

    def match(self, listed: Sealed, seal: Seal) -> None:
        found = self.loaded.pop(listed.id, None)
        if found is None:
            stored = raw_entry(listed.id)
            if stored is None:
                self.problem(listed.ms, seal.seq, listed.id, f"removed after seal #{seal.seq}")
            elif entry_digest(stored) != listed.digest:
                self.problem(
                    listed.ms,
                    seal.seq,
                    listed.id,
                    f"altered after seal #{seal.seq} (its index keys too: it left its window)",
                )
        elif found.digest != listed.digest:
            self.problem(listed.ms, seal.seq, listed.id, f"altered after seal #{seal.seq}")

    def check_chain(self, seal: Seal, prev: Seal | None) -> None:
        if seal.computed_hash() != seal.seal_hash:
            self.problem(seal.from_ms, seal.seq, None, "altered: its content no longer matches its hash")
        expected = prev.seq + 1 if prev else 1
        where = prev.to_ms if prev else seal.from_ms
        if seal.seq > expected:
            self.problem(where, expected, None, f"removed (the chain goes from #{expected - 1} to #{seal.seq})")
        elif seal.seq != expected:
            self.problem(where, seal.seq, None, f"out of order after #{expected - 1}")
        if seal.prev_hash != (prev.seal_hash if prev else GENESIS_HASH):
            self.problem(seal.from_ms, seal.seq, None, f"does not follow seal #{expected - 1}: the chain is broken")
        if (prev and seal.from_ms != prev.to_ms) or seal.to_ms < seal.from_ms:
            self.problem(seal.from_ms, seal.seq, None, "its range does not continue the previous one")
        if self.anchor and self.anchor[0] == seal.seq and self.anchor[1] != seal.seal_hash:
            self.problem(seal.from_ms, seal.seq, None, "differs from the anchor kept outside the table")

    def check_entries(self, seal: Seal) -> None:
        """Every line of the seal against the entry as it is now."""
        for listed in seal.entries:
            if not seal.from_ms <= listed.ms < seal.to_ms:
                self.problem(listed.ms, seal.seq, listed.id, f"listed by seal #{seal.seq} outside its range")
            self.match(listed, seal)
        for listed in seal.late:
            if not seal.recheck_from_ms <= listed.ms < seal.from_ms:
                self.problem(
                    listed.ms,
                    seal.seq,
                    listed.id,
                    f"listed late by seal #{seal.seq} outside the range it looked at again",
                )
            self.match(listed, seal)

    def check_seal(self, seal: Seal, prev: Seal | None) -> None:
        report = self.report
        self.check_chain(seal, prev)
        if self.next_day is None:
            report.first_from, self.next_day = seal.from_ms, day_start(seal.from_ms)
        self.load_until(seal.to_ms)
        self.check_entries(seal)
        report.seals += 1
        report.entries += len(seal.entries)
        report.late += len(seal.late)
        self.ranges.append((seal.from_ms, seal.to_ms, seal.seq))
        report.head = seal

    def check_unlisted(self, sealed_until: int) -> None:
        """Entries read but not listed, and those of the days after the head: an entry
        in a sealed range that no seal lists was slipped in after its seal."""
        self.load_until(day_start(windows.now_ms()) + DAY_MS)
        starts = [r[0] for r in self.ranges]
        first_from = self.report.first_from
        if first_from is None:  # set by the first seal, as next_day (load_until)
            raise RuntimeError("no seal read yet")
        for entry in self.loaded.values():
            if first_from <= entry.ms < sealed_until:
                i = bisect.bisect_right(starts, entry.ms) - 1
                while i > 0 and self.ranges[i][0] == self.ranges[i][1]:
                    i -= 1  # a seal listing only late entries covers no time
                seq = self.ranges[max(i, 0)][2]
                self.problem(entry.ms, seq, entry.id, f"inserted after seal #{seq}")
            elif entry.ms >= sealed_until:
                self.report.unsealed += 1

    def run(self) -> Report:
        prev = None
        for stored in raw_seals():
            try:
                seal = Seal.from_raw(stored)
            except ValueError as exc:
                seq = prev.seq + 1 if prev else 1
                self.problem(prev.to_ms if prev else 0, seq, None, f"altered: {exc}")
                continue
            self.check_seal(seal, prev)
            prev = seal
        if self.anchor and (prev is None or prev.seq < self.anchor[0]):
            self.problem(
                prev.to_ms if prev else 0,
                self.anchor[0],
                None,
                "removed: the chain ends before the anchor kept outside the table",
            )
        if prev is not None:
            self.check_unlisted(prev.to_ms)
        return self.report


def verify(anchor: tuple[int, str] | None = None) -> Report:
    """Every sealed entry against its seal, the chain against itself (and ``anchor``)."""
    return _Verifier(anchor).run()
