"""Every counter recomputed from the data, compared with the live counters, and
corrected (``python -m deploy stats backfill [--check]``, ``python -m local stats
backfill``).

For a table created before the statistics (counters absent, structures without
their list key, usagers and ended mandates without their marks), and as the check
that the live counters have not drifted. It reads by key and index only, paged:

1. the journal, day by day (gsi3 ``JOURNAL#<UTC day>#<shard>``) from ``since``
   (default: the day the table was created): each token issued is a démarche done
   (its category, its Paris month), and every entry names its structure;
2. the structures: the list index (gsi2 ``STRUCTURES``) and those the journal named
   (which get the list key when writing), by BatchGet;
3. for each structure, its mandates (gsi1 ``STRUCTURE#<sid>#MANDATES``) and its
   members, the aidants by BatchGet; the usagers of the mandates by BatchGet.

While live traffic runs: the counters are read before (C1) and after (C2) the data.
A counter that moved between the two reads had events while its data was read: it is
left alone by this pass, and the pass is run again (``attempts``). For every other
counter, the data and C2 describe the same events, and the drift D - C2 is ADDed,
not written as a value: an event counted after C2 adds its own delta, so adding the
difference stays right whatever happens meanwhile, where writing the value would
erase that event. Each correction is one idempotent transaction (sent again after a
timeout, never applied twice). Index reads are eventually consistent: the data is
read ``settle`` seconds after C1, so that what C1 counted is in the indexes.

Marks written (unless checking): the structures' list key; ``Usager.accompanied_at``
(their first mandate's date); ``Mandate.stats_ended_at`` on the mandates no longer in
force that no live event counted out (revoked, renewed or expired before the
statistics existed, or on a day the expiry run has passed), so that nothing counts
them out again; the expiry run's cursor, if there is none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..oidc.events import TOKEN_ISSUED
from ..store import Aidant, ExpiryCursor, Mandate, Membership, Structure, Usager, now, read, transaction
from ..store.journal import entries_of_day
from ..store.stats import STATS_SHARDS, StatsShard, shard_key, table_created_on
from . import counters
from .expiry import first_pending_day
from .figures import totals

# Attributes per correcting update: an update expression stays well under DynamoDB's
# 4 KB whatever the number of months.
_NAMES_PER_UPDATE = 40


@dataclass
class Data:
    """What the data says each counter should be, and the marks it lacks."""

    values: dict[str, int] = field(default_factory=dict)
    structures_unlisted: list[str] = field(default_factory=list)
    mandates_unmarked: list[str] = field(default_factory=list)  # ended, never counted out
    usagers_unmarked: dict[str, datetime] = field(default_factory=dict)  # id -> first mandate

    def add(self, name: str, amount: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount


@dataclass
class Report:
    check_only: bool
    since: str
    drift: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (counter, data)
    unsettled: list[str] = field(default_factory=list)  # moved by live traffic on every pass
    marks: dict[str, int] = field(default_factory=dict)
    counters: int = 0
    passes: int = 0

    @property
    def ok(self) -> bool:
        return not self.drift and not self.unsettled

    def lines(self) -> list[str]:
        verb = "would be" if self.check_only else "were"
        out = [
            f"statistics backfill ({'check only' if self.check_only else 'written'}), journal read from "
            f"{self.since}, {self.counters} counters compared in {self.passes} pass(es)"
        ]
        for name, (counter, data) in sorted(self.drift.items()):
            out.append(
                f"  drift {name}: counter {counter}, data {data} ({data - counter:+d})"
                + ("" if self.check_only else ", corrected")
            )
        for name in self.unsettled:
            out.append(f"  not settled {name}: it moved while the data was read (live traffic); run again")
        for what, count in sorted(self.marks.items()):
            if count:
                out.append(f"  {count} {what} {verb} marked")
        out.append(
            "no drift"
            if not self.drift and not self.unsettled
            else f"{len(self.drift)} counters drifted" + (", corrected" if not self.check_only else "")
        )
        return out


def _days(since: date, until: date):
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


def read_data(since: date, at: datetime, cursor: date | None) -> Data:
    data = Data()
    for name in counters.TOTALS:
        data.values[name] = 0
    # 1. The journal: démarches done, and the structures it names.
    named = set()
    for day in _days(since, at.date()):
        for entry in entries_of_day(day.isoformat(), ["action", "structure_id", "demarche", "at"]):
            if entry["structure_id"]:
                named.add(entry["structure_id"])
            if entry["action"] == TOKEN_ISSUED and entry["demarche"]:
                for name, amount in counters.demarche_done(entry["demarche"], entry["at"]).items():
                    data.add(name, amount)
    # 2. The structures.
    listed = set(Structure.listed_ids())
    structures = [s for s in Structure.many(listed | named) if isinstance(s, Structure)]
    data.structures_unlisted = sorted(s.id for s in structures if s.id not in listed)
    data.values[counters.STRUCTURES] = sum(1 for s in structures if s.is_active)
    # 3. Per structure: its mandates and its members.
    pending_from = first_pending_day(cursor, at.date())
    first_mandate: dict[str, datetime] = {}
    members = set()
    for structure in structures:
        for m in Mandate.of_structure_values(
            structure.id,
            ["id", "usager_id", "created_at", "expires_at", "revoked_at", "active_demarches", "stats_ended_at"],
        ):
            for name, amount in counters.mandate_signed(m["created_at"], False).items():
                if name != counters.MANDATES_ACTIVE:
                    data.add(name, amount)
            if counted_in_force(m, at, pending_from):
                data.add(counters.MANDATES_ACTIVE)
            elif m["stats_ended_at"] is None:
                data.mandates_unmarked.append(m["id"])
            if m["usager_id"] not in first_mandate or m["created_at"] < first_mandate[m["usager_id"]]:
                first_mandate[m["usager_id"]] = m["created_at"]
        members.update(Membership.aidants_of(structure.id))
    data.values[counters.USAGERS] = len(first_mandate)
    data.values[counters.AIDANTS_ACTIVE] = sum(1 for a in Aidant.many(members) if isinstance(a, Aidant) and a.is_active)
    usagers = [u for u in read(Usager.key(uid) for uid in first_mandate).values() if isinstance(u, Usager)]
    data.usagers_unmarked = {u.id: first_mandate[u.id] for u in usagers if u.accompanied_at is None}
    return data


def counted_in_force(mandate: dict, at: datetime, pending_from: date) -> bool:
    """Whether the live counter of mandates in force holds this mandate: signed, not
    counted out (revocation, renewal, the expiry run), and either unexpired or
    expired on a day the expiry run has still to pass (it will count it out then)."""
    if mandate["stats_ended_at"] is not None or mandate["revoked_at"] is not None or not mandate["active_demarches"]:
        return False
    return mandate["expires_at"] > at or mandate["expires_at"].date() >= pending_from


def _write_marks(data: Data, at: datetime, report: Report) -> None:
    report.marks["structures (list key)"] = sum(Structure.add_list_keys(sid) for sid in data.structures_unlisted)
    report.marks["usagers (accompanied)"] = sum(
        Usager.mark_accompanied(uid, first) for uid, first in data.usagers_unmarked.items()
    )
    report.marks["mandates (no longer in force)"] = sum(Mandate.mark_ended(mid, at) for mid in data.mandates_unmarked)


def _correct(drift: dict[str, int]) -> None:
    names = sorted(drift)
    for index, start in enumerate(range(0, len(names), _NAMES_PER_UPDATE)):
        chunk = {name: drift[name] for name in names[start : start + _NAMES_PER_UPDATE]}
        with transaction() as tx:
            tx.update(StatsShard(*shard_key(index % STATS_SHARDS)), actions=StatsShard.add_actions(chunk))


def run(check_only: bool = True, since: date | None = None, settle: float = 2.0, attempts: int = 3) -> Report:
    at = now()
    since = since or table_created_on()
    report = Report(check_only=check_only, since=since.isoformat())
    if ExpiryCursor.read() is None and not check_only:
        # The run would start yesterday: set that now, so a first run on a later day
        # still passes the days this backfill left to it.
        ExpiryCursor.advance(at.date() - timedelta(days=2))
    todo: set[str] | None = None  # None: every counter (the first pass)
    for attempt in range(attempts):
        report.passes += 1
        before = totals(consistent=True)
        cursor = ExpiryCursor.read()  # a run moving it meanwhile also moves mandates_active
        time.sleep(settle)
        data = read_data(since, now(), cursor)
        if attempt == 0:
            if check_only:
                report.marks = {
                    "structures (list key)": len(data.structures_unlisted),
                    "usagers (accompanied)": len(data.usagers_unmarked),
                    "mandates (no longer in force)": len(data.mandates_unmarked),
                }
            else:
                _write_marks(data, now(), report)
        after = totals(consistent=True)
        names = set(data.values) | set(before) | set(after)
        if todo is None:
            report.counters = len(names)
            todo = names
        moved = {n for n in names if before.get(n, 0) != after.get(n, 0)}
        found = {
            n: (after.get(n, 0), data.values.get(n, 0))
            for n in todo - moved
            if after.get(n, 0) != data.values.get(n, 0)
        }
        report.drift.update(found)
        if found and not check_only:
            _correct({n: expected - counted for n, (counted, expected) in found.items()})
        todo &= moved
        if not todo:
            break
    if todo is None:  # set by the first pass
        raise ValueError("a backfill makes at least one pass (attempts >= 1)")
    report.unsettled = sorted(todo)
    return report
