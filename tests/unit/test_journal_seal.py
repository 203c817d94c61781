"""The journal's hash chain under moto: what a seal lists, how seals link, late
entries, races between runs, and what verify names when something was tampered with."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
MINUTE = 60_000


class Clock:
    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock(moto_store, monkeypatch):
    """Entries and seal runs read this clock; it starts on the hour, three hours ago."""
    from shared import config, journal
    from shared.seals import windows

    for name in (
        "JOURNAL_SEAL_GRACE_SECONDS",
        "JOURNAL_SEAL_WINDOW_SECONDS",
        "JOURNAL_SEAL_SINCE",
        "JOURNAL_SEAL_LOOKBACK_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    config.reset_caches()
    c = Clock((int(time.time() * 1000) // HOUR - 3) * HOUR)
    monkeypatch.setattr(journal, "_now_ms", c)
    monkeypatch.setattr(windows, "now_ms", c)
    return c


def write(clock, ms, action="login_succeeded", **fields):
    from shared import journal

    clock.ms = ms
    return journal.record(action, aidant_id=fields.pop("aidant_id", "a1"), **fields)


def client():
    return boto3.client("dynamodb", region_name="eu-west-3")


def table():
    from shared.config import settings

    return settings().table_name


def entry_key(entry):
    return {"pk": {"S": entry.pk}, "sk": {"S": entry.sk}}


def all_seals():
    from shared import seals

    return list(seals.seals())


def verify(anchor=None):
    from shared import seals

    return seals.verify(anchor)


def listed_ids(seals):
    return [e.id for s in seals for e in (*s.entries, *s.late)]


# -- entries -----------------------------------------------------------------------


def test_every_entry_carries_a_day_and_shard_index_key_from_the_same_clock_as_its_id(clock):
    from shared import journal
    from shared.store.journal import JOURNAL_SHARDS, entry_ms

    clock.ms += 1234
    item = journal.entry("login_succeeded", aidant_id="a1")
    assert entry_ms(item.id) == clock.ms
    assert item.gsi3sk == f"{item.at}#{item.id}"
    day, shard = item.gsi3pk.removeprefix("JOURNAL#").split("#")
    assert day == item.at[:10] and 0 <= int(shard) < JOURNAL_SHARDS
    shards = {journal.entry("login_succeeded").gsi3pk for _ in range(200)}
    assert len(shards) == JOURNAL_SHARDS, "entries of a day spread over every shard"


def test_the_entry_digest_ignores_attribute_order_and_changes_with_any_attribute():
    from shared.seals import entry_digest

    raw = {"pk": {"S": "JOURNAL#1"}, "action": {"S": "login_failed"}, "details": {"M": {"a": {"S": "1"}}}}
    reordered = {"details": {"M": {"a": {"S": "1"}}}, "action": {"S": "login_failed"}, "pk": {"S": "JOURNAL#1"}}
    assert entry_digest(raw) == entry_digest(reordered)
    changed = [
        {**raw, "action": {"S": "login_succeeded"}},
        {**raw, "details": {"M": {"a": {"S": "2"}}}},
        {**raw, "extra": {"S": ""}},
        {k: v for k, v in raw.items() if k != "details"},
        {**raw, "action": {"N": "1"}},
    ]
    assert len({entry_digest(raw), *(entry_digest(c) for c in changed)}) == len(changed) + 1


def test_a_seal_item_of_the_largest_size_fits_in_a_dynamodb_item():
    from shared.journal import new_entry_id
    from shared.seals.chain import Sealed
    from shared.seals.chain import lines as _lines
    from shared.seals.sealing import MAX_ENTRIES_PER_SEAL

    lines = _lines(Sealed(0, new_entry_id(), "f" * 64) for _ in range(MAX_ENTRIES_PER_SEAL))
    assert len(lines.encode()) < 300_000  # DynamoDB: 400 KB per item


# -- the chain -----------------------------------------------------------------------


def test_seals_list_every_entry_of_their_range_once_and_link_to_the_previous(clock):
    from shared import seals

    base = clock.ms
    first = [write(clock, base + i * MINUTE) for i in range(3)]
    second = [write(clock, base + 10 * MINUTE + i) for i in range(2)]
    clock.ms = base + 30 * MINUTE
    one = seals.seal(base + 5 * MINUTE)
    two = seals.seal(base + 20 * MINUTE)
    seal1, seal2 = all_seals()
    assert [s.seq for s in one.written] == [1] and [s.seq for s in two.written] == [2]
    assert [e.id for e in seal1.entries] == [e.id for e in first]
    assert [e.id for e in seal2.entries] == [e.id for e in second]
    assert seal1.prev_hash == seals.GENESIS_HASH and seal2.prev_hash == seal1.seal_hash
    assert seal2.from_ms == seal1.to_ms == base + 5 * MINUTE
    assert seal1.computed_hash() == seal1.seal_hash
    report = verify()
    assert report.ok, report.lines()
    assert report.entries == 5 and report.seals == 2 and report.head.seq == 2
    assert report.lines()[0].startswith("journal intact: 2 seal(s) from ") and seal2.seal_hash in report.lines()[0]


def test_a_run_with_nothing_new_writes_no_seal(clock):
    from shared import seals

    base = clock.ms
    write(clock, base)
    seals.seal(base + 1)
    clock.ms += 10 * MINUTE  # it looks again at the first seal (at risk), finds nothing late
    again = seals.seal(base + 1)
    assert again.written == [] and again.head.seq == 1


def test_the_scheduled_run_seals_up_to_the_last_window_closed_for_longer_than_the_grace(clock):
    from shared import seals

    base = clock.ms  # on the hour
    assert seals.scheduled_until(base + 4 * MINUTE) == base - HOUR
    assert seals.scheduled_until(base + 6 * MINUTE) == base
    early = write(clock, base + 2 * MINUTE)
    clock.ms = base + 66 * MINUTE
    summary = seals.run_scheduled()
    assert summary["sealed"] == 1 and summary["sealed_until"].startswith(
        time.strftime("%Y-%m-%dT%H:00:00.000", time.gmtime((base + HOUR) / 1000))
    )
    assert listed_ids(all_seals()) == [early.id]


def test_many_entries_are_cut_into_bounded_seals_keeping_one_millisecond_together(clock, monkeypatch):
    from shared.seals import sealing

    monkeypatch.setattr(sealing, "MAX_ENTRIES_PER_SEAL", 3)
    base = clock.ms
    written = [write(clock, base + i) for i in range(5)] + [write(clock, base + 5) for _ in range(4)]
    written += [write(clock, base + 6)]
    clock.ms = base + HOUR
    outcome = sealing.seal(base + 10 * MINUTE)
    seals = all_seals()
    assert len(outcome.written) == len(seals) >= 3
    assert sorted(listed_ids(seals)) == sorted(e.id for e in written)
    assert all(
        len(s.entries) <= 3 or len({e.ms for e in s.entries}) == 1 or max(e.ms for e in s.entries) == base + 5
        for s in seals
    )
    for previous, following in zip(seals, seals[1:]):
        assert following.from_ms == previous.to_ms and following.prev_hash == previous.seal_hash
    assert verify().ok


# -- late entries ---------------------------------------------------------------------


def test_an_entry_committed_after_its_range_was_sealed_is_sealed_late_and_verifies(clock):
    from shared import seals

    base = clock.ms
    write(clock, base)
    clock.ms = base + MINUTE
    seals.seal_now()  # cut at its own start: at risk
    late = write(clock, base + MINUTE - 500)  # its transaction began before the seal, committed after
    clock.ms = base + MINUTE + 5000
    newer = write(clock, clock.ms)
    outcome = seals.seal_now()
    (seal2,) = outcome.written
    assert [e.id for e in seal2.late] == [late.id] and [e.id for e in seal2.entries] == [newer.id]
    report = verify()
    assert report.ok, report.lines()
    assert report.late == 1 and report.entries == 2


def test_an_entry_slipped_into_a_settled_range_is_never_sealed_as_late(clock):
    """Once a run that started the grace after a seal has looked again at its range,
    nothing more can legitimately arrive there: a new entry is an insertion."""
    from shared import journal, seals

    base = clock.ms
    write(clock, base)
    clock.ms = base + MINUTE
    seals.seal_now()
    clock.ms = base + 10 * MINUTE
    write(clock, clock.ms)
    seals.seal_now()  # looks again at seal 1 (at risk), and settles it
    clock.ms = base + MINUTE - 2000
    fake = journal.entry("mandate_revoked", aidant_id="a1")
    client().put_item(TableName=table(), Item=fake.serialize())
    clock.ms = base + 20 * MINUTE
    seals.seal_now()
    assert fake.id not in listed_ids(all_seals())
    report = verify()
    assert not report.ok
    assert report.lines()[0] == f"journal NOT intact: entry {fake.id} ({fake.at}) inserted after seal #1"


def test_scheduled_seals_are_never_looked_at_again(clock):
    from shared import journal, seals

    base = clock.ms
    write(clock, base + MINUTE)
    clock.ms = base + HOUR + 10 * MINUTE
    seals.run_scheduled()
    clock.ms = base + 30 * MINUTE
    fake = journal.entry("mandate_created")
    client().put_item(TableName=table(), Item=fake.serialize())
    clock.ms = base + 2 * HOUR + 10 * MINUTE
    seals.run_scheduled()
    assert fake.id not in listed_ids(all_seals())
    assert f"entry {fake.id}" in verify().lines()[0]


def test_late_entries_beyond_one_seal_are_all_listed_even_if_a_run_stops_halfway(clock, monkeypatch):
    from shared import seals
    from shared.seals import chain, sealing

    monkeypatch.setattr(sealing, "MAX_ENTRIES_PER_SEAL", 2)
    base = clock.ms
    write(clock, base)
    clock.ms = base + MINUTE
    seals.seal_now()
    late = [write(clock, base + 100 + i) for i in range(5)]
    clock.ms = base + MINUTE + 1000
    original, calls = chain.append, []

    def crash_after_first(*args, **kwargs):
        if calls:
            raise RuntimeError("the function was killed")
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(chain, "append", crash_after_first)
    with pytest.raises(RuntimeError):
        seals.seal_now()
    partial = all_seals()[-1]
    assert len(partial.late) == 2 and not partial.rechecked, "a partial list does not settle anything"
    monkeypatch.setattr(chain, "append", original)
    clock.ms += 1000
    seals.seal_now()
    assert sorted(e.id for s in all_seals() for e in s.late) == sorted(e.id for e in late)
    report = verify()
    assert report.ok, report.lines()
    assert report.late == 5


# -- races -------------------------------------------------------------------------------


def test_a_run_that_loses_the_race_goes_on_from_the_winners_seal(clock, monkeypatch):
    from shared.seals import chain, sealing

    base = clock.ms
    entries = [write(clock, base + i * MINUTE) for i in range(6)]
    clock.ms = base + HOUR
    original, raced = chain.append, []

    def competitor_first(*args, **kwargs):
        if not raced:
            raced.append(1)
            sealing.seal(base + 3 * MINUTE)  # another run writes seal 1 in between
        return original(*args, **kwargs)

    monkeypatch.setattr(chain, "append", competitor_first)
    outcome = sealing.seal(base + 10 * MINUTE)
    seals = all_seals()
    assert [s.seq for s in seals] == [1, 2] and [s.seq for s in outcome.written] == [2]
    assert seals[1].prev_hash == seals[0].seal_hash and seals[1].from_ms == base + 3 * MINUTE
    assert sorted(listed_ids(seals)) == sorted(e.id for e in entries), "each entry sealed once"
    assert verify().ok


# -- verify --------------------------------------------------------------------------------


@pytest.fixture
def sealed(clock):
    """Three entries sealed (two seals), and one newer entry not sealed yet."""
    from shared import seals

    base = clock.ms
    entries = [write(clock, base + i * MINUTE, reason=f"r{i}") for i in range(3)]
    clock.ms = base + 10 * MINUTE
    seals.seal(base + MINUTE + 1)
    seals.seal(base + 5 * MINUTE)
    write(clock, base + 10 * MINUTE)
    clock.ms = base + 11 * MINUTE
    report = verify()
    assert report.ok and report.entries == 3 and report.unsealed == 1, report.lines()
    return entries


def test_verify_names_an_entry_altered_after_its_seal(sealed):
    client().update_item(
        TableName=table(),
        Key=entry_key(sealed[2]),
        UpdateExpression="SET reason = :r",
        ExpressionAttributeValues={":r": {"S": "rewritten"}},
    )
    report = verify()
    assert report.lines()[0] == f"journal NOT intact: entry {sealed[2].id} ({sealed[2].at}) altered after seal #2"


def test_verify_names_an_entry_removed_after_its_seal(sealed):
    client().delete_item(TableName=table(), Key=entry_key(sealed[0]))
    assert verify().lines()[0] == f"journal NOT intact: entry {sealed[0].id} ({sealed[0].at}) removed after seal #1"


def test_verify_names_an_entry_moved_out_of_its_window_as_altered(sealed):
    client().update_item(TableName=table(), Key=entry_key(sealed[1]), UpdateExpression="REMOVE gsi3pk, gsi3sk")
    line = verify().lines()[0]
    assert (
        line.startswith(f"journal NOT intact: entry {sealed[1].id} ")
        and "altered after seal #1 (its index keys" in line
    )


def test_verify_names_an_entry_inserted_in_a_sealed_range_and_the_first_problem_in_time(sealed, clock):
    from shared import journal
    from shared.store.journal import entry_ms

    clock.ms = entry_ms(sealed[0].id) + 10
    fake = journal.entry("mandate_created", aidant_id="a1")
    client().put_item(TableName=table(), Item=fake.serialize())
    client().delete_item(TableName=table(), Key=entry_key(sealed[2]))
    report = verify()
    assert report.lines()[0] == f"journal NOT intact: entry {fake.id} ({fake.at}) inserted after seal #1"
    assert report.lines()[1] == "1 more problem(s):" and sealed[2].id in report.lines()[2]


def test_verify_names_a_seal_altered_or_removed(sealed):
    from shared.store.journal import JournalSeal

    pk, sk = JournalSeal.key(1)
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    original = client().get_item(TableName=table(), Key=key)["Item"]
    client().update_item(
        TableName=table(),
        Key=key,
        UpdateExpression="SET entries = :e",
        ExpressionAttributeValues={":e": {"S": original["entries"]["S"].splitlines()[0]}},
    )
    assert verify().lines()[0] == "journal NOT intact: seal #1: altered: its content no longer matches its hash"
    client().delete_item(TableName=table(), Key=key)
    assert "seal #1: removed" in verify().lines()[0]


def test_a_seal_rewritten_consistently_breaks_the_link_from_the_next(sealed):
    """Dropping an entry and recomputing its seal's hash is seen from the next seal."""
    from dataclasses import replace

    from shared import seals
    from shared.store.journal import JournalSeal

    seal1 = all_seals()[0]
    forged = replace(seal1, entries_text=seal1.entries_text.splitlines()[1])
    pk, sk = JournalSeal.key(1)
    client().update_item(
        TableName=table(),
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="SET entries = :e, seal_hash = :h",
        ExpressionAttributeValues={":e": {"S": forged.entries_text}, ":h": {"S": forged.computed_hash()}},
    )
    client().delete_item(TableName=table(), Key=entry_key(sealed[0]))
    lines = verify().lines()
    assert any("seal #2: does not follow seal #1" in line for line in lines)
    assert seals.seal_now().head.seq >= 2  # the sealer itself does not need the chain to be intact


def test_an_anchor_kept_elsewhere_catches_seals_cut_off_at_the_end(sealed):
    from shared import seals
    from shared.store.journal import JournalSeal

    head = verify().head
    anchor = seals.parse_anchor(f"{head.seq}:sha256:{head.seal_hash}")
    assert verify(anchor).ok
    pk, sk = JournalSeal.key(head.seq)
    client().delete_item(TableName=table(), Key={"pk": {"S": pk}, "sk": {"S": sk}})
    assert verify().ok, "without the anchor, a cut-off end looks like a chain not sealed that far"
    assert verify(anchor).lines()[0] == (
        "journal NOT intact: seal #2: removed: the chain ends before the anchor kept outside the table"
    )
    with pytest.raises(ValueError):
        seals.parse_anchor("2:nothex")


def test_verify_without_any_seal_says_so(clock):
    write(clock, clock.ms)
    report = verify()
    assert report.ok and report.lines() == ["journal intact: no seal yet, nothing to verify"]


# -- the function -----------------------------------------------------------------------


def _handler():
    spec = importlib.util.spec_from_file_location("journal_seal_handler", ROOT / "functions/journal_seal/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _post(handler, body: bytes):
    event = SimpleNamespace(method="POST", path="/", query={}, body=body, headers={})
    out = handler.handle(event, SimpleNamespace(hostname="test"))
    return out["statusCode"], json.loads(out["body"])


def test_the_function_runs_the_schedule_on_the_cron_connectors_empty_post(clock):
    handler = _handler()
    entry = write(clock, clock.ms)
    clock.ms += HOUR + 10 * MINUTE
    status, body = _post(handler, b"")
    assert status == 200 and body["sealed"] == 1 and body["entries"] == 1
    assert listed_ids(all_seals()) == [entry.id]
    assert _post(handler, b'{"run": "scheduled"}') == (200, {**body, "sealed": 0, "entries": 0})
    assert _post(handler, b"{not json")[0] == 400
    status, body = _post(handler, b'{"run": "everything"}')
    assert status == 400 and body["error"] == "invalid_request"


def test_the_local_scheduler_runs_journal_seal_within_a_quarter_past_each_window_and_grace(monkeypatch):
    """The same schedule as the cron-connector's (stack.yml): a run comes within 15
    minutes after a window's end plus the grace, and it seals that window."""
    from datetime import datetime, timezone

    from local import scheduler, stack
    from shared import config, seals

    cron = scheduler.scheduled_functions()["journal-seal"]
    env = stack.functions()["journal-seal"].environment
    window_end = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    run = cron.next_after(window_end.replace(minute=int(env["JOURNAL_SEAL_GRACE_SECONDS"]) // 60))
    assert run == datetime(2026, 11, 24, 10, 15, tzinfo=timezone.utc)
    for name in ("JOURNAL_SEAL_GRACE_SECONDS", "JOURNAL_SEAL_WINDOW_SECONDS"):
        monkeypatch.setenv(name, env[name])
    config.reset_caches()
    assert seals.scheduled_until(int(run.timestamp() * 1000)) == int(window_end.timestamp() * 1000)


def test_problems_of_a_seal_and_of_an_entry_at_the_same_moment_are_both_reported():
    from shared.seals import Problem, Report

    report = Report(problems=[Problem(5, 1, "x", "removed after seal #1"), Problem(5, 1, None, "altered: …")])
    assert report.lines() == [
        "journal NOT intact: seal #1: altered: …",
        "1 more problem(s):",
        f"  entry x ({'1970-01-01T00:00:00.005+00:00'}) removed after seal #1",
    ]


def test_verify_names_a_seal_missing_an_attribute_the_chain_needs(sealed):
    from shared.store.journal import JournalSeal

    pk, sk = JournalSeal.key(1)
    client().update_item(TableName=table(), Key={"pk": {"S": pk}, "sk": {"S": sk}}, UpdateExpression="REMOVE prev_hash")
    assert verify().lines()[0].startswith("journal NOT intact: seal #1: altered: unreadable seal")
