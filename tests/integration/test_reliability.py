"""Faults and races, on loopback, bounded in time and count (docs/architecture.md §7).

* the store hung, then restarted (SIGTERM: ``local up`` starts it again), in the
  middle of a load run: fast 503s, then recovery by itself, every acknowledged write
  still there, nothing half-written, nothing usable twice;
* a function process killed while it holds a request: 502 for that one, the next is
  served;
* races: 50 redemptions of one code, 50 logins with one TOTP code, 20 signatures of
  one draft.

The first two kill processes, so they run on this module's own stack (DynamoDB Local
on disk, ``--store-data``, so that a restart finds the data again; two replicas of
``oidc_userinfo``). The races run on the session's shared stack. The SMTP sink
stopped and restarted is covered by
``test_notifications.py::test_smtp_down_during_delivery_is_retried_until_it_comes_back``,
a replica killed between requests by ``test_gateway.py``, DynamoDB Local, the SMTP
sink and ``local up`` itself killed by ``test_local_stack.py``.

DynamoDB Local is restarted with SIGTERM here, not killed with SIGKILL: on SIGKILL
DynamoDB Local itself may lose the last transactions it acknowledged (whole ones:
all or nothing), a property of the local store, not of the service, which on AWS is
DynamoDB's to keep (docs/reliability.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests

from bench import world as bench_world
from bench.flow import AUTHORIZE, TOKEN, TXN_GET, TXN_POST, USERINFO, FlowClient, StepFailed
from bench.stats import Recorder
from tests.conftest import Stack, _reset_shared_caches

from .mandate_flow import new_aidant
from .oidc_fc import code_of, make_world

OUTAGE_SECONDS = 4
ANSWER_BOUND_SECONDS = 10  # no request waits longer than this, store or no store


def _children(pid: int, pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def faulty_stack(tmp_path_factory):
    from local import launcher

    saved_env = dict(os.environ)
    state = tmp_path_factory.mktemp("faulty-stack")
    store_data = state / "dynamodb-data"
    running = launcher.start(
        state, ["--store-data", str(store_data), "--workers", "oidc_userinfo=2"], env={"STORE_TIMEOUT_SECONDS": "2"}
    )
    stack = Stack(running.url, running.state, running.env, running.process, running.seed())
    stack.store_data = store_data
    stack.ports = running.ports
    try:
        yield stack
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


# -- a function killed mid-request -----------------------------------------------------------


def test_a_function_killed_mid_request_fails_that_request_and_the_next_is_served(faulty_stack):
    stack = faulty_stack
    first, second = _children(stack.process.pid, "local.runtime --function oidc_userinfo ")
    os.kill(first, signal.SIGSTOP)  # it accepts the request and never answers...
    try:
        answers = []
        # Two requests: round-robin sends one to each replica, so one is held by the stopped one.
        threads = [
            threading.Thread(
                target=lambda: answers.append(
                    requests.get(stack.url + "/oidc/userinfo", headers={"Authorization": "Bearer nope"}, timeout=30)
                )
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        time.sleep(1.0)
        assert len(answers) == 1 and answers[0].status_code == 401  # the live replica answered
    finally:
        os.kill(first, signal.SIGKILL)  # ...and dies while it holds it (SIGKILL ends a stopped process too)
    for t in threads:
        t.join(30)
    killed = answers[1]
    assert killed.status_code in (502, 503), killed.text
    assert killed.json()["error"] in ("bad_gateway", "temporarily_unavailable")
    # The next ones are served at once: the gateway skips the dead replica for the live one.
    for _ in range(4):
        nxt = requests.get(stack.url + "/oidc/userinfo", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert nxt.status_code == 401 and nxt.json()["error"] == "invalid_token"
    deadline = time.time() + 90
    while time.time() < deadline and len(_children(stack.process.pid, "local.runtime --function oidc_userinfo ")) < 2:
        time.sleep(0.5)
    assert first not in _children(stack.process.pid, "local.runtime --function oidc_userinfo ")


# -- the store stopped under load --------------------------------------------------------------


class Load:
    """FranceConnect clients running whole flows, and an aidant signing mandates, until
    told to stop; every answer's status and time is recorded."""

    def __init__(self, stack, world, clients: int = 3):
        self.stack = stack
        self.recorder = Recorder()
        self.clients = [FlowClient(stack.url, world, self.recorder, i) for i in range(clients)]
        self.stop = threading.Event()
        self.codes: list[tuple[str, str]] = []
        self.tokens: list[str] = []
        self.redeemed: set[str] = set()  # codes a token was obtained with
        self.flows_ok = 0
        self.mandate_statuses: Counter = Counter()
        self.mandates: list[str] = []  # signed: acknowledged with a 201
        self.threads = [threading.Thread(target=self._flows, args=(c,), daemon=True) for c in self.clients]
        self.aidant = new_aidant(stack)
        self.threads.append(threading.Thread(target=self._mandates, daemon=True))

    def _flows(self, client: FlowClient) -> None:
        while not self.stop.is_set():
            try:
                txn, verifier = client.authorize()
                client.offer(txn)
                code = client.choose(txn)
                self.codes.append((code, verifier))
                token = client.token(code, verifier)
                self.tokens.append(token)
                self.redeemed.add(code)
                client.userinfo(token)
                self.flows_ok += 1
            except StepFailed:
                time.sleep(0.1)

    def _mandates(self) -> None:
        aidant = self.aidant
        while not self.stop.is_set():
            try:
                r = aidant.session.post(
                    self.stack.url + "/api/mandates/drafts",
                    timeout=30,
                    json={"demarches": ["papiers", "logement"], "duration": "long", "is_remote": False},
                )
                self.mandate_statuses[("draft", r.status_code)] += 1
                if r.status_code != 201:
                    time.sleep(0.2)
                    continue
                draft = r.json()["draft"]
                r = aidant.session.get(
                    r.json()["franceconnect_url"] + "&login_hint=angela", allow_redirects=False, timeout=30
                )
                self.mandate_statuses[("franceconnect", r.status_code)] += 1
                if r.status_code != 302:
                    continue
                r = aidant.session.get(r.headers["Location"], allow_redirects=False, timeout=30)
                self.mandate_statuses[("callback", r.status_code)] += 1
                if r.status_code != 302 or "error=" in r.headers.get("Location", ""):
                    continue  # not identified (the store was down): nothing to sign
                r = aidant.session.post(
                    self.stack.url + "/api/mandates",
                    timeout=30,
                    json={"draft": draft, "otp": aidant.code(), "usager_informed": True},
                )
                self.mandate_statuses[("sign", r.status_code)] += 1
                if r.status_code == 201:
                    self.mandates.append(r.json()["mandate"])
            except Exception as exc:  # a step of the test's own (a TOTP device it adds) may meet the outage
                self.mandate_statuses[("exception", type(exc).__name__)] += 1
                time.sleep(0.2)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def _hang_store(stack) -> int:
    """Freeze DynamoDB Local (SIGSTOP): it accepts connections and never answers, the
    worst an outage does to a caller."""
    [pid] = _children(stack.process.pid, "DynamoDBLocal")
    os.kill(pid, signal.SIGSTOP)
    return pid


def _restart_store(stack, pid: int) -> None:
    """Stop it as a service manager does (SIGTERM; SIGCONT lets it see the signal):
    ``local up`` starts it again on the same port and the same data folder."""
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGCONT)


@pytest.mark.slow
def test_store_hung_then_restarted_under_load_fails_fast_recovers_and_loses_nothing(faulty_stack):
    stack = faulty_stack
    stack.use_store()
    from shared.store import now

    since = now()
    world = bench_world.build(aidants=2, usagers=4)
    functions_before = sorted(_children(stack.process.pid, "local.runtime"))
    with Load(stack, world) as load:
        # Some whole flows first (a few seconds; longer on a loaded machine).
        deadline = time.time() + 60
        while load.flows_ok < 3 and time.time() < deadline:
            time.sleep(0.5)
        assert load.flows_ok > 0, load.recorder.statuses
        store = _hang_store(stack)
        time.sleep(1)
        # Whatever the endpoint, the answer is a quick JSON 503 that says to come back.
        for method, path, kwargs in (
            ("GET", "/oidc/userinfo", {"headers": {"Authorization": "Bearer " + "x" * 3}}),
            ("GET", f"/api/fi/transactions/{'t' * 22}", {"cookies": {"ac_session": world.cookies[0]}}),
            (
                "POST",
                "/oidc/token",
                {
                    "data": {"grant_type": "authorization_code", "code": "c"},
                    "auth": (world.client_id, world.client_secret),
                },
            ),
            ("GET", "/api/me", {"cookies": {"ac_session": world.cookies[0]}}),
        ):
            started = time.monotonic()
            r = requests.request(method, stack.url + path, timeout=30, **kwargs)
            assert time.monotonic() - started < ANSWER_BOUND_SECONDS
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["Content-Type"].startswith("application/json")
            assert r.json()["error"] == "temporarily_unavailable" and r.headers.get("Retry-After")
        time.sleep(OUTAGE_SECONDS - 1)
        flows_during_outage = load.flows_ok
        _restart_store(stack, store)
        deadline = time.time() + 60
        while time.time() < deadline and load.flows_ok < flows_during_outage + 5:
            time.sleep(0.5)
        assert load.flows_ok >= flows_during_outage + 5, "no recovery after the store came back"
    # Recovered by itself: the same function processes, none restarted.
    assert sorted(_children(stack.process.pid, "local.runtime")) == functions_before
    statuses = {step: dict(load.recorder.statuses[step]) for step in (AUTHORIZE, TXN_GET, TXN_POST, TOKEN, USERINFO)}
    for step, seen in statuses.items():
        assert set(seen) <= {200, 302, 503}, (step, seen)  # never a 500, a 502 or a hang
        assert max(load.recorder.latencies[step]) < ANSWER_BOUND_SECONDS * 1000, step
    assert any(503 in seen for seen in statuses.values()), statuses
    assert all(status in (200, 201, 302, 503) for (step, status) in load.mandate_statuses if step != "exception"), (
        load.mandate_statuses
    )
    assert not [s for s in load.mandate_statuses if s[0] == "exception" and s[1].startswith(("ReadTimeout", "Connect"))]
    assert load.mandate_statuses[("sign", 201)] >= 1, load.mandate_statuses
    assert _children(stack.process.pid, "DynamoDBLocal") not in ([], [store])  # restarted by `local up`

    _check_every_acknowledged_write_is_there(stack, load)
    _check_nothing_is_usable_twice(stack, world, load)
    _check_nothing_is_half_written(stack, world, load.aidant.structure_id, since)


def _check_every_acknowledged_write_is_there(stack, load: Load) -> None:
    """What an answer said was done is in the store after the restart: each code
    handed out, each redemption a token came from (the code used, tied to its token),
    each token, each mandate signed."""
    stack.use_store()
    from shared import crypto
    from shared.oidc.grants import CODE_PURPOSE
    from shared.oidc.tokens import TOKEN_PURPOSE
    from shared.store import AccessToken, AuthorizationCode, Mandate

    assert load.codes and load.tokens and load.mandates
    codes = {
        code: AuthorizationCode.get(*AuthorizationCode.key(crypto.keyed_hash(code, CODE_PURPOSE)), consistent_read=True)
        for code, _ in load.codes
    }
    for code in load.redeemed:
        assert codes[code].used_at is not None and codes[code].access_token_hash
    for token in load.tokens:
        AccessToken.get(*AccessToken.key(crypto.keyed_hash(token, TOKEN_PURPOSE)), consistent_read=True)
    for mandate_id in load.mandates:
        Mandate.get(*Mandate.key(mandate_id), consistent_read=True)


def _check_nothing_is_usable_twice(stack, world, load: Load) -> None:
    """Every code is usable once: one a token was obtained with is refused now; one
    whose redemption met the outage (503, nothing written) may still be redeemed,
    once, within its minute; and a replay revokes the token its first redemption
    gave (RFC 6749 §4.1.2)."""
    session = requests.Session()

    def redeem(code, verifier):
        return session.post(
            stack.url + "/oidc/token",
            timeout=30,
            auth=(world.client_id, world.client_secret),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": world.redirect_uri,
                "code_verifier": verifier,
            },
        )

    late_tokens = []
    for code, verifier in load.codes:
        r = redeem(code, verifier)
        if code in load.redeemed or r.status_code != 200:
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
            continue
        late_tokens.append(r.json()["access_token"])
        again = redeem(code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    for token in load.tokens + late_tokens:
        r = session.get(stack.url + "/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 401, r.text


def _check_nothing_is_half_written(stack, world, mandate_structure: str, since) -> None:
    """A Scan of the whole (small) table, in the test only: every change the load
    committed is whole, with its journal entry and its outbox item."""
    stack.use_store()
    from shared.store import (
        AccessToken,
        AuthorizationCode,
        AuthorizationTransaction,
        Autorisation,
        Item,
        JournalEntry,
        Mandate,
        OutboxItem,
    )

    items = list(Item.scan())
    journal = defaultdict(list)
    for entry in (i for i in items if isinstance(i, JournalEntry)):
        journal[entry.action].append(entry)
    outbox = [i for i in items if isinstance(i, OutboxItem)]

    # Identity provider: a completed transaction has its code and both journal entries.
    completed = {
        t.id
        for t in items
        if isinstance(t, AuthorizationTransaction) and t.client_id == world.client_id and t.completed_at is not None
    }
    codes = Counter(c.txn_id for c in items if isinstance(c, AuthorizationCode) and c.client_id == world.client_id)
    assert set(codes) == completed and set(codes.values()) <= {1}
    for action in ("oidc_usager_chosen", "oidc_code_issued"):
        journaled = Counter(e.details["transaction"] for e in journal[action] if e.client_id == world.client_id)
        assert set(journaled) == completed and set(journaled.values()) <= {1}, action
    # A token exists with its journal entry and the usager's e-mail, or not at all.
    tokens = [t for t in items if isinstance(t, AccessToken) and t.client_id == world.client_id]
    issued = [e for e in journal["oidc_token_issued"] if e.client_id == world.client_id]
    usager_mails = {f"usager{i}@example.fr" for i in range(len(world.usagers))}
    notices = [o for o in outbox if o.template == "demarche_done" and o.recipient in usager_mails]
    assert len(tokens) == len(issued) == len(notices) > 0
    assert len({t.code_hash for t in tokens}) == len(tokens)  # one token per code at most

    # Mandates: every autorisation, the journal entry and the usager's e-mail, or nothing.
    mandates = [m for m in items if isinstance(m, Mandate) and m.structure_id == mandate_structure]
    assert mandates
    created = Counter(e.mandate_id for e in journal["mandate_created"] if e.structure_id == mandate_structure)
    for mandate in mandates:
        autorisations = {a.demarche for a in items if isinstance(a, Autorisation) and a.mandate_id == mandate.id}
        assert autorisations == set(mandate.demarches), mandate.id
        assert created[mandate.id] == 1, mandate.id
    # A sent item keeps no context (it may hold personal data), so the usager's e-mails
    # are counted: only this test signs mandates on this stack, all for Angela.
    mails = [
        o
        for o in outbox
        if o.template == "mandate_created" and o.recipient == "angela.dubois@example.fr" and o.created_at >= since
    ]
    assert len(mails) == len(mandates)
    assert set(created) == {m.id for m in mandates}
    assert not [
        a
        for a in items
        if isinstance(a, Autorisation)
        and a.structure_id == mandate_structure
        and a.mandate_id not in {m.id for m in mandates}
    ]


# -- races, on the shared stack ----------------------------------------------------------------


def _all_at_once(count: int, call) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        barrier.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_fifty_simultaneous_redemptions_of_one_code_give_at_most_one_token_and_revoke_it(stack):
    world = make_world(stack)
    pending = world.fc.authorize(requests.Session())
    code = code_of(world.code_for(pending))
    answers = _all_at_once(50, lambda _: world.fc.token_request(code, verifier=pending.verifier))
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 400} and statuses[200] <= 1, statuses
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code == 400)
    # The code was consumed exactly once: each of the 49 others was journaled as a replay,
    # and a token the winner may have got is revoked by them (RFC 6749 §4.1.2).
    stack.use_store()
    from shared import journal

    entries = journal.for_aidant(world.aidant_id, limit=200)
    assert [e.action for e in entries].count("oidc_code_replayed") == 49
    assert [e.action for e in entries].count("oidc_token_issued") == statuses[200]
    for r in answers:
        if r.status_code == 200:
            assert world.fc.userinfo(r.json()["access_token"]).status_code == 401


def test_fifty_simultaneous_logins_with_one_totp_code_give_one_success(stack):
    email = stack.new_aidant()
    code = stack.otp(email)
    answers = _all_at_once(
        50, lambda _: requests.post(stack.url + "/api/login", timeout=60, json={"email": email, "otp": code})
    )
    statuses = Counter(r.status_code for r in answers)
    # One success; the others are refused as a replay (401), or before their code is
    # checked (429) while five attempts are in flight or once five failures lock.
    assert statuses[200] == 1 and set(statuses) <= {200, 401, 429} and sum(statuses.values()) == 50, statuses


def test_twenty_concurrent_signatures_of_one_draft_give_one_mandate(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers", "social"])
    aidant.identify(draft["franceconnect_url"])
    # One valid code of its own device per request: only the draft's condition can
    # stop the others (test_mandates_create.py runs the same race with 5).
    codes = [aidant.code_of_new_device() for _ in range(20)]

    def sign(i):
        session = requests.Session()
        session.cookies.update(aidant.session.cookies)
        return session.post(
            stack.url + "/api/mandates",
            timeout=60,
            json={"draft": draft["draft"], "otp": codes[i], "usager_informed": True},
        )

    answers = _all_at_once(20, sign)
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 409: 19}, statuses
    assert len(aidant.get("/api/mandates").json()["mandates"]) == 1
    stack.use_store()
    from shared import journal, mandates

    assert [e.action for e in journal.for_structure(aidant.structure_id)].count("mandate_created") == 1
    assert len(mandates.active_autorisations_of_structure(aidant.structure_id)) == 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([str(Path(__file__)), "-q"]))
