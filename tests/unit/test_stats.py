"""The public statistics' counters under moto: what each event moves, once."""

from datetime import datetime, timedelta, timezone

import pyotp
import pytest


@pytest.fixture
def world(moto_store, monkeypatch):
    """An aidant of structure s1 (TOTP seed known) and a usager; figures never cached."""
    monkeypatch.setenv("STATS_CACHE_SECONDS", "0")
    from shared import accounts, config, mandates

    config.reset_caches()

    class World:
        step = 0

        def __init__(self):
            self.structure = accounts.create_structure(
                accounts.new_structure("S1", "1" * 14, "Paris", structure_id="s1")
            )
            self.aidant, secret = accounts.create_aidant("stats@test.fr", "Sta", "Tistique", ["s1"])
            self.totp = pyotp.TOTP(secret)
            self.usager = self.new_usager("sub-angela")

        @staticmethod
        def new_usager(sub):
            return mandates.upsert_usager(sub, {"given_name": "Angela", "family_name": "DUBOIS"})

        def code(self) -> str:
            import time

            now = int(time.time() // 30)
            self.step = max(self.step + 1, now)
            assert self.step <= now + 1, "a test may use at most two codes"
            return self.totp.at(self.step * 30)

        def mandate(self, demarches, usager=None, extra=()):
            return mandates.create(
                mandates.NewMandate(
                    structure_id="s1",
                    usager=usager or self.usager,
                    demarches=demarches,
                    duration="long",
                    is_remote=False,
                    remote_consent=None,
                    aidant_id=self.aidant.id,
                    aidant_name="Sta Tistique",
                    text_snapshot="Mentions",
                ),
                extra=extra,
            )

    return World()


def _totals():
    from shared import stats

    return stats.figures()["totals"]


def _counters():
    from shared import stats

    return stats.totals(consistent=True)


def _expire(mandate_id, days_ago=0, seconds_ago=60):
    """Move a mandate's end into the past, as time would (index keys included)."""
    from shared.store import Mandate

    at = datetime.now(timezone.utc) - timedelta(days=days_ago, seconds=seconds_ago)
    mandate = Mandate.get(*Mandate.key(mandate_id))
    mandate.update(
        actions=[
            Mandate.expires_at.set(at),
            Mandate.gsi3pk.set(Mandate.expiry_partition(at.date())),
            Mandate.gsi3sk.set(f"{at.isoformat(timespec='seconds')}#{mandate_id}"),
        ]
    )


def test_a_new_table_answers_zeros_for_every_figure(moto_store):
    from shared import stats
    from shared.demarches import DEMARCHES

    body = stats.figures()
    assert set(body) == {"updated_at", "totals", "demarches_done_by_category", "monthly"}
    assert body["totals"] == {
        name: 0
        for name in ("structures", "aidants_active", "usagers", "mandates_created", "mandates_active", "demarches_done")
    }
    assert body["demarches_done_by_category"] == {key: 0 for key in DEMARCHES}
    current = datetime.now(timezone.utc).astimezone(stats.counters.PARIS).strftime("%Y-%m")
    assert body["monthly"] == [{"month": current, "mandates_created": 0, "demarches_done": 0}]


def test_creating_a_structure_and_an_active_aidant_counts_them(world):
    from shared import accounts

    assert _totals()["structures"] == 1 and _totals()["aidants_active"] == 1
    accounts.create_aidant("inactive@test.fr", "In", "Actif", ["s1"], is_active=False)
    assert _totals()["aidants_active"] == 1


def test_signing_counts_the_mandate_and_the_usager_once(world):
    world.mandate(["papiers", "argent"])
    assert {k: _totals()[k] for k in ("usagers", "mandates_created", "mandates_active")} == {
        "usagers": 1,
        "mandates_created": 1,
        "mandates_active": 1,
    }
    from shared.store import Usager

    usager = Usager.get(*Usager.key(world.usager.id))
    assert usager.accompanied_at is not None
    # A second mandate of the same usager (another démarche): the usager is not counted again.
    world.usager = usager
    world.mandate(["logement"])
    assert {k: _totals()[k] for k in ("usagers", "mandates_created", "mandates_active")} == {
        "usagers": 1,
        "mandates_created": 2,
        "mandates_active": 2,
    }


def test_a_usager_read_before_their_first_mandate_is_still_counted_once(world):
    stale = world.usager  # read before any mandate: accompanied_at is None
    world.mandate(["papiers"])
    world.mandate(["argent"], usager=stale)  # the condition refuses, the signature goes again uncounted
    assert _totals()["usagers"] == 1 and _totals()["mandates_created"] == 2


def test_franceconnect_identifying_the_usager_again_keeps_their_mark(world):
    world.mandate(["papiers"])
    again = world.new_usager("sub-angela")
    assert again.accompanied_at is not None and again.given_name == "Angela"
    world.mandate(["argent"], usager=again)
    assert _totals()["usagers"] == 1


def test_a_renewal_of_every_demarche_ends_the_old_mandate_in_the_figures(world):
    from shared import mandates
    from shared.store import Usager

    old = world.mandate(["papiers", "argent"])
    world.usager = Usager.get(*Usager.key(world.usager.id))
    world.mandate(["papiers"])  # renews one of two: the old one stays in force
    assert _totals()["mandates_active"] == 2
    world.mandate(["argent", "logement"])  # renews the last one: the old one ends
    assert _totals()["mandates_active"] == 2 and _totals()["mandates_created"] == 3
    mandate, _ = mandates.load(old.id)
    assert mandates.status_of(mandate) == "replaced" and mandate.stats_ended_at is not None


def test_a_signature_refused_by_its_condition_moves_nothing(world):
    from pynamodb.exceptions import TransactWriteError

    from shared.store import Structure

    before = _counters()
    refused = (
        "condition_check",
        Structure,
        {"hash_key": "STRUCTURE#nope", "range_key": "STRUCTURE", "condition": Structure.pk.exists()},
    )
    with pytest.raises(TransactWriteError):
        world.mandate(["papiers"], extra=[refused])
    assert _counters() == before


def test_revoking_a_whole_mandate_ends_it_once_and_one_demarche_does_not(world):
    from shared import revocation

    m = world.mandate(["papiers", "argent"])
    revocation.revoke("s1", world.aidant.id, m.id, world.code(), demarche="papiers")
    assert _totals()["mandates_active"] == 1
    revocation.revoke("s1", world.aidant.id, m.id, world.code(), demarche="argent")  # the last one: revoked
    assert _totals()["mandates_active"] == 0 and _totals()["mandates_created"] == 1


def test_the_expiry_run_counts_each_expired_mandate_once(world):
    from shared import stats

    expired, kept = world.mandate(["papiers"]), world.mandate(["argent"], usager=world.new_usager("sub-b"))
    _expire(expired.id)
    first = stats.run_scheduled()
    second = stats.run_scheduled()
    assert first["counted"] == 1 and second["counted"] == 0
    assert _totals()["mandates_active"] == 1 and _totals()["mandates_created"] == 2
    from shared.store import Mandate

    assert Mandate.get(*Mandate.key(kept.id)).stats_ended_at is None


def test_the_expiry_run_passes_days_it_missed_and_moves_its_cursor(world):
    from shared import stats
    from shared.store import ExpiryCursor

    m = world.mandate(["papiers"])
    _expire(m.id, days_ago=3)
    today = datetime.now(timezone.utc).date()
    ExpiryCursor.advance(today - timedelta(days=5))  # the last run was five days ago
    report = stats.run_scheduled()
    assert report["counted"] == 1 and report["done_through"] == (today - timedelta(days=1)).isoformat()
    assert _totals()["mandates_active"] == 0


def test_a_revoked_mandate_is_not_counted_again_by_the_expiry_run(world):
    from shared import revocation, stats

    m = world.mandate(["papiers"])
    revocation.revoke("s1", world.aidant.id, m.id, world.code())
    _expire(m.id)
    assert stats.run_scheduled()["counted"] == 0
    assert _totals()["mandates_active"] == 0


def test_the_figures_are_read_once_per_cache_period(world, monkeypatch):
    from shared import config, stats, store

    monkeypatch.setenv("STATS_CACHE_SECONDS", "60")
    config.reset_caches()
    stats.forget_cached()
    store.calls.reset()
    first = stats.figures()
    world.mandate(["papiers"])
    store.calls.reset()
    assert stats.figures() == first and store.calls.count == 0
    stats.forget_cached()
    assert stats.figures()["totals"]["mandates_created"] == 1


def test_reading_every_figure_is_one_call_whatever_the_months(world):
    from shared import stats, store
    from shared.store import StatsShard

    for month in range(1, 13):  # a year of months on several shards
        with store.transaction() as tx:
            stats.demarche_done("papiers", f"2024-{month:02d}-15T12:00:00+00:00").write(tx, f"event-{month}")
    store.calls.reset()
    body = stats.figures()
    assert store.calls.count == 1 and store.calls.operations == ["BatchGetItem"]
    assert len(body["monthly"]) >= 12 and body["demarches_done_by_category"]["papiers"] == 12
    assert body["monthly"][0] == {"month": "2024-01", "mandates_created": 0, "demarches_done": 1}
    assert len(StatsShard.read_all()) > 1  # spread over shards, summed


def test_an_event_goes_to_the_same_shard_every_time():
    from shared.store.stats import STATS_SHARDS, shard_of

    assert shard_of("some-event") == shard_of("some-event")
    assert len({shard_of(f"event-{i}") for i in range(200)}) == STATS_SHARDS


def test_the_month_of_an_event_is_its_month_in_paris():
    from shared.stats import counters

    assert counters.month_of("2025-01-31T23:30:00+00:00") == "2025-02"
    assert counters.month_of("2025-06-30T21:59:59+00:00") == "2025-06"


def test_the_figures_carry_no_personal_data(world):
    from shared import stats

    world.mandate(["papiers"])
    text = repr(stats.figures())
    for personal in ("Angela", "DUBOIS", world.usager.id, world.aidant.id, "stats@test.fr", "s1"):
        assert personal not in text


def test_the_backfill_finds_the_live_counters_from_the_data(world):
    from shared import revocation, stats
    from shared.stats import backfill
    from shared.store import StatsShard
    from shared.store.stats import STATS_SHARDS, shard_key

    m = world.mandate(["papiers", "argent"])
    world.mandate(["logement"], usager=world.new_usager("sub-b"))
    revocation.revoke("s1", world.aidant.id, m.id, world.code())
    live = _counters()
    assert backfill.run(check_only=True, settle=0).ok
    for shard in range(STATS_SHARDS):  # the counters lost
        StatsShard(*shard_key(shard)).delete()
    check = backfill.run(check_only=True, settle=0)
    assert not check.ok and _counters() == {}  # reported, nothing written
    assert {name: data for name, (counter, data) in check.drift.items()} == live
    written = backfill.run(check_only=False, settle=0)
    assert written.drift == check.drift and _counters() == live
    assert backfill.run(check_only=True, settle=0).ok
    assert stats.figures()["totals"]["mandates_active"] == 1


def test_the_backfill_marks_a_table_older_than_the_statistics(world):
    """Data written before the counters existed: no counter, no marks, no list key."""
    from shared.stats import backfill
    from shared.store import Mandate, StatsShard, Structure, Usager
    from shared.store.stats import STATS_SHARDS, shard_key

    old = world.mandate(["papiers"])
    _expire(old.id, days_ago=10)
    for shard in range(STATS_SHARDS):
        StatsShard(*shard_key(shard)).delete()
    Usager(*Usager.key(world.usager.id)).update(actions=[Usager.accompanied_at.remove()])
    Structure(*Structure.key("s1")).update(actions=[Structure.gsi2pk.remove(), Structure.gsi2sk.remove()])
    report = backfill.run(check_only=False, settle=0, since=datetime.now(timezone.utc).date() - timedelta(days=1))
    assert report.marks == {"structures (list key)": 1, "usagers (accompanied)": 1, "mandates (no longer in force)": 1}
    assert _totals()["mandates_created"] == 1 and _totals()["mandates_active"] == 0
    assert _totals()["structures"] == 1 and _totals()["usagers"] == 1
    assert Mandate.get(*Mandate.key(old.id)).stats_ended_at is not None
    assert Structure.listed_ids() == ["s1"]


def _cancelled(*codes):
    from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code=c) if c else None for c in codes],
    )
    return TransactWriteError("Failed to write transaction items", cause)


def test_a_transaction_cancelled_by_a_concurrent_one_is_sent_again_with_a_new_token(world, monkeypatch):
    """Two flows adding to the same counter shard at the same instant: on AWS one is
    cancelled (TransactionConflict). It applied nothing: it goes again, and counts."""
    from pynamodb.transactions import TransactWrite

    from shared import store

    sent, real = [], TransactWrite._commit

    def conflicting_once(self):
        sent.append(self._client_request_token)
        if len(sent) == 1:
            raise _cancelled(None, "TransactionConflict")
        return real(self)

    monkeypatch.setattr(TransactWrite, "_commit", conflicting_once)
    with store.transaction() as tx:
        from shared import stats

        stats.demarche_done("papiers", datetime.now(timezone.utc)).write(tx, "event")
    assert len(sent) == 2 and sent[0] != sent[1]
    assert _totals()["demarches_done"] == 1


def test_a_transaction_refused_by_a_condition_is_not_sent_again(world, monkeypatch):
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from shared import stats, store

    sent = []

    def refused(self):
        sent.append(1)
        raise _cancelled("TransactionConflict", "ConditionalCheckFailed")

    monkeypatch.setattr(TransactWrite, "_commit", refused)
    with pytest.raises(TransactWriteError):
        with store.transaction() as tx:
            stats.demarche_done("papiers", datetime.now(timezone.utc)).write(tx, "event")
    assert sent == [1]


def test_two_activations_from_one_stale_read_count_the_aidant_once(world):
    """Two référents (or two structures) activate the same inactive account at once:
    both read it inactive; the second write is refused by the condition on what it
    read, and the count of active aidants moves once."""
    from shared import accounts, errors, lifecycle, store
    from shared.store import Aidant

    accounts.create_structure(accounts.new_structure("S2", "2" * 14, "Laon", structure_id="s2"))
    aidant, _ = accounts.create_aidant("late@test.fr", "Tar", "Dif", ["s1"], is_active=False)
    before = _totals()["aidants_active"]
    read_by_first, read_by_second = Aidant.find(aidant.id), Aidant.find(aidant.id)
    with store.transaction(errors.Conflict("changed")) as tx:
        tx.include(lifecycle.activation(read_by_first, actor_id="r1", structure_id="s1"))
    with pytest.raises(errors.Conflict):
        with store.transaction(errors.Conflict("changed")) as tx:
            tx.include(lifecycle.activation(read_by_second, actor_id="r2", structure_id="s2"))
    assert _totals()["aidants_active"] == before + 1
    # Read again, the second référent's activation goes through and counts nothing more.
    with store.transaction(errors.Conflict("changed")) as tx:
        tx.include(lifecycle.activation(Aidant.find(aidant.id), actor_id="r2", structure_id="s2"))
    assert _totals()["aidants_active"] == before + 1
    # Deactivated in one of two structures: still active; in the last one: not.
    leaving = lifecycle.deactivation(Aidant.find(aidant.id), actor_id="r1", structure_id="s1")
    with store.transaction(errors.Conflict("changed")) as tx:
        tx.include(leaving.operations)
    assert _totals()["aidants_active"] == before + 1
    leaving = lifecycle.deactivation(Aidant.find(aidant.id), actor_id="r2", structure_id="s2")
    with store.transaction(errors.Conflict("changed")) as tx:
        tx.include(leaving.operations)
    assert _totals()["aidants_active"] == before
