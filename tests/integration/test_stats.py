"""The public statistics over HTTP, against DynamoDB Local: the figures move by
exactly the number of events, concurrent or refused; the expiry run counts once;
the backfill finds the live counters again from the data; no session, no personal
data. The local stack reads the counters at every request (STATS_CACHE_SECONDS=0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import requests

from .mandate_flow import new_aidant
from .oidc_fc import code_of, make_world

STATS = "/api/stats"
IDENTITIES = ("angela", "pierre", "fatou", "eloise")  # the FranceConnect stand-in's


def figures(stack) -> dict:
    r = requests.get(stack.url + STATS, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def flat(body: dict) -> dict[str, int]:
    """Every number of an answer, by a name of its own."""
    out = {f"totals.{k}": v for k, v in body["totals"].items()}
    out.update({f"category.{k}": v for k, v in body["demarches_done_by_category"].items()})
    for row in body["monthly"]:
        out.update({f"{row['month']}.{k}": v for k, v in row.items() if k != "month"})
    return out


def moved(before: dict, after: dict) -> dict[str, int]:
    a, b = flat(before), flat(after)
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def this_month() -> str:
    from shared.stats.counters import month_of

    return month_of(datetime.now(timezone.utc))


def all_at_once(calls: list) -> list:
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i):
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported by the assertion on results
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def accompanied(stack, identity: str) -> bool:
    stack.use_store()
    from local.franceconnect.identities import sub_for
    from shared import mandates
    from shared.config import settings
    from shared.store import Usager

    try:
        usager = Usager.get(*Usager.key(mandates.usager_id_for(sub_for(identity, settings().franceconnect_client_id))))
    except Usager.DoesNotExist:
        return False
    return usager.accompanied_at is not None


def run_backfill(stack, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.env, "LOCAL_STATE_DIR": str(stack.state)}
    return subprocess.run(
        [sys.executable, "-m", "local", "stats", "backfill", "--settle", "0.5", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def expire_in_store(stack, mandate_id: str) -> None:
    """Time passes: the mandate ended a minute ago (its expiry index keys too)."""
    stack.use_store()
    from shared.store import Mandate

    at = datetime.now(timezone.utc) - timedelta(minutes=1)
    Mandate(*Mandate.key(mandate_id)).update(
        actions=[
            Mandate.expires_at.set(at),
            Mandate.gsi3pk.set(Mandate.expiry_partition(at.date())),
            Mandate.gsi3sk.set(f"{at.isoformat(timespec='seconds')}#{mandate_id}"),
        ]
    )


# -- the answer -----------------------------------------------------------------------


def test_the_figures_need_no_session_and_name_nobody(stack):
    r = requests.get(stack.url + STATS, timeout=10)  # no cookie at all
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"updated_at", "totals", "demarches_done_by_category", "monthly"}
    assert set(body["totals"]) == {
        "structures",
        "aidants_active",
        "usagers",
        "mandates_created",
        "mandates_active",
        "demarches_done",
    }
    assert all(isinstance(v, int) for v in flat(body).values())
    assert body["monthly"][-1]["month"] == this_month()
    datetime.fromisoformat(body["updated_at"])
    # The seed's usager, aidant, structure and mandate exist: none of them shows.
    text = r.text
    for personal in (
        "Angela",
        "DUBOIS",
        "Fwolk",
        "camille",
        stack.seed["usager"]["id"],
        stack.seed["aidant"]["id"],
        stack.seed["structure"]["id"],
        stack.seed["mandate"]["id"],
        "Soissons",
    ):
        assert personal not in text
    # With a session it is the same answer (nothing is personalised).
    logged_in = stack.login(requests.Session(), stack.new_aidant())
    assert logged_in.get(stack.url + STATS, timeout=10).json()["totals"] == figures(stack)["totals"]


def test_only_get_is_served(stack):
    r = requests.post(stack.url + STATS, json={}, timeout=10)
    assert r.status_code == 405 and r.json()["error"]


# -- counted as the events happen --------------------------------------------------------


def test_concurrent_flows_and_signatures_move_the_counters_by_exactly_their_number(stack):
    flows = 8
    world = make_world(stack)  # its structure, aidant, usager and mandate are counted before we start
    signer = new_aidant(stack, world.structure_id)
    drafts = []
    for identity in IDENTITIES:  # identified one after the other (one browser), signed all at once
        draft = signer.new_draft(["social", "travail"])
        assert "error" not in signer.identify(draft["franceconnect_url"], identity)
        drafts.append((draft["draft"], signer.code_of_new_device()))
    new_usagers = sum(not accompanied(stack, identity) for identity in IDENTITIES)

    def flow():
        browser = requests.Session()
        browser.cookies.update(world.browser.cookies)
        pending = world.fc.authorize(browser)
        r = browser.post(
            f"{stack.url}/api/fi/transactions/{pending.txn}",
            timeout=60,
            json={"usager": world.usager_id, "demarche": "argent"},
        )
        assert r.status_code == 200, r.text
        return world.fc.fetch_token(pending, r.json()["redirect_to"])["access_token"]

    def signature(draft, code):
        def sign():
            session = requests.Session()
            session.cookies.update(signer.session.cookies)
            return session.post(
                stack.url + "/api/mandates", timeout=60, json={"draft": draft, "otp": code, "usager_informed": True}
            ).status_code

        return sign

    before = figures(stack)
    results = all_at_once([flow] * flows + [signature(d, c) for d, c in drafts])
    after = figures(stack)
    assert all(isinstance(token, str) for token in results[:flows]), results
    assert results[flows:] == [201] * len(drafts), results
    month = this_month()
    expected = {
        "totals.demarches_done": flows,
        "category.argent": flows,
        f"{month}.demarches_done": flows,
        "totals.mandates_created": len(drafts),
        "totals.mandates_active": len(drafts),
        f"{month}.mandates_created": len(drafts),
    }
    if new_usagers:
        expected["totals.usagers"] = new_usagers
    assert moved(before, after) == expected
    assert all(accompanied(stack, identity) for identity in IDENTITIES)


def test_a_replayed_code_and_a_draft_signed_twice_move_nothing(stack):
    world = make_world(stack)
    pending = world.fc.authorize(requests.Session())
    redirect_to = world.code_for(pending, demarche="papiers")
    before = figures(stack)
    assert world.fc.token_request(code_of(redirect_to), verifier=pending.verifier).status_code == 200
    once = figures(stack)
    assert moved(before, once) == {
        "totals.demarches_done": 1,
        "category.papiers": 1,
        f"{this_month()}.demarches_done": 1,
    }
    replay = world.fc.token_request(code_of(redirect_to), verifier=pending.verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert moved(once, figures(stack)) == {}

    aidant = new_aidant(stack)
    draft = aidant.new_draft(["logement"])
    aidant.identify(draft["franceconnect_url"], "pierre")
    assert aidant.sign(draft["draft"]).status_code == 201
    signed = figures(stack)
    again = aidant.sign(draft["draft"])
    assert again.status_code == 409 and again.json()["error"] == "draft_already_signed"
    assert moved(signed, figures(stack)) == {}


def test_revoking_a_whole_mandate_takes_it_out_of_those_in_force_once(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers", "argent"], identity="fatou")
    before = figures(stack)
    assert aidant.revoke(mandate_id, "papiers").status_code == 200
    assert moved(before, figures(stack)) == {}  # one démarche of two: still in force
    assert aidant.revoke(mandate_id, "argent").status_code == 200
    assert moved(before, figures(stack)) == {"totals.mandates_active": -1}
    assert aidant.revoke(mandate_id).status_code == 409
    assert moved(before, figures(stack)) == {"totals.mandates_active": -1}


def test_the_expiry_run_counts_each_expired_mandate_once_however_often_it_runs(stack):
    aidant = new_aidant(stack)
    first = aidant.create_mandate(["papiers"], identity="eloise")
    second = aidant.create_mandate(["famille"], identity="angela")
    before = figures(stack)
    for mandate_id in (first, second):
        expire_in_store(stack, mandate_id)
    runs = [requests.post(stack.url + "/function/stats", data=b"", timeout=30) for _ in range(2)]
    assert [r.status_code for r in runs] == [200, 200]
    # The local cron may have run it too, in between: the two mandates are counted once in all.
    assert moved(before, figures(stack)) == {"totals.mandates_active": -2}
    assert runs[1].json()["counted"] == 0
    assert {aidant.get(f"/api/mandates/{m}").json()["status"] for m in (first, second)} == {"expired"}
    # Two runs at the same instant, nothing left to count: nothing moves.
    parallel = all_at_once([lambda: requests.post(stack.url + "/function/stats", data=b"", timeout=30)] * 4)
    assert Counter(r.status_code for r in parallel) == {200: 4}
    assert moved(before, figures(stack)) == {"totals.mandates_active": -2}


def test_aidants_active_follows_activation_and_deactivation(stack):
    sid = stack.new_structure("Structure des activations")
    referent = stack.new_aidant(sid, referent_of=[sid])
    email = stack.new_aidant(sid)  # active, with an app
    stack.use_store()
    from shared import accounts
    from shared.store import Training

    aid = accounts.find_aidant_by_email(email).id
    Training(*Training.key(aid), aidant_id=aid, trained_on="2024-02-01", pix_passed=True).save()
    session = stack.login(requests.Session(), referent)
    url = f"{stack.url}/api/referent/structures/{sid}/aidants/{aid}"
    headers = {"Content-Type": "application/json"}
    before = figures(stack)
    assert session.post(url + "/deactivate", headers=headers, timeout=10).status_code == 200
    assert moved(before, figures(stack)) == {"totals.aidants_active": -1}
    assert session.post(url + "/deactivate", headers=headers, timeout=10).status_code == 200  # already
    assert moved(before, figures(stack)) == {"totals.aidants_active": -1}
    assert session.post(url + "/activate", headers=headers, timeout=10).status_code == 200
    assert session.post(url + "/activate", headers=headers, timeout=10).status_code == 200  # already
    assert moved(before, figures(stack)) == {}


# -- the backfill ------------------------------------------------------------------------------


def test_the_backfill_finds_the_live_counters_again_from_the_data(stack):
    # Set-ups of other tests write some items directly: start from a table that agrees.
    first = run_backfill(stack)
    assert first.returncode == 0, first.stdout + first.stderr
    aidant = new_aidant(stack)
    aidant.create_mandate(["justice"], identity="pierre")
    live = figures(stack)
    stack.use_store()
    from shared.store import StatsShard
    from shared.store.stats import STATS_SHARDS, shard_key

    for shard in range(STATS_SHARDS):
        StatsShard(*shard_key(shard)).delete()
    lost = figures(stack)
    assert lost["totals"]["mandates_created"] == 0
    check = run_backfill(stack, "--check")
    assert check.returncode == 1 and "drift mandates_created: counter 0" in check.stdout, check.stdout
    assert figures(stack)["totals"] == lost["totals"]  # --check writes nothing
    written = run_backfill(stack)
    assert written.returncode == 0, written.stdout + written.stderr
    assert {k: v for k, v in flat(figures(stack)).items() if v} == {k: v for k, v in flat(live).items() if v}
    again = run_backfill(stack, "--check")
    assert again.returncode == 0 and again.stdout.strip().endswith("no drift"), again.stdout


def test_the_backfill_refuses_a_store_that_is_not_local(stack):
    env = {
        **os.environ,
        **stack.env,
        "LOCAL_STATE_DIR": str(stack.state),
        "DYNAMODB_HOST": "https://dynamodb.eu-west-3.amazonaws.com",
    }
    r = subprocess.run(
        [sys.executable, "-m", "local", "stats", "backfill", "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "python -m deploy stats backfill" in r.stderr
