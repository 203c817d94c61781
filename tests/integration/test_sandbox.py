"""The training sandbox as `make sandbox` runs it (`local up --sandbox`): its own
stack, started here, with its own table and FranceConnect stand-in, served through
the gateway as its functions. And the production stack (the shared ``stack``
fixture), which refuses every sandbox route.

The sandbox's API is also fuzzed here with schemathesis against this sandbox stack
(its operations are tagged ``sandbox`` in openapi.yaml; test_openapi.py fuzzes the
production stack without them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests

from tests.conftest import ROOT, Stack, _reset_shared_caches, stack_of_its_own
from tests.integration.mandate_flow import Aidant, Device, landing
from tests.integration.test_openapi import _schemathesis

TRAINING = "Environnement de formation – données fictives"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with stack_of_its_own(tmp_path_factory.mktemp("sandbox-stack"), ["--sandbox"]) as running:
        yield Stack(running.url, running.state, running.env, running.process, running.seed())


@pytest.fixture(autouse=True)
def _environment_restored():
    """A trainee's extra TOTP device is written through ``Stack.use_store()``, which
    points this process at the sandbox: never beyond the test (a production stack
    started next must not inherit the sandbox's settings)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    _reset_shared_caches()


def sign_up(sandbox, email: str, first="Camille", last="Stagiaire") -> dict:
    r = requests.post(
        sandbox.url + "/api/sandbox/trainees", json={"email": email, "first_name": first, "last_name": last}, timeout=20
    )
    assert r.status_code == 201, r.text
    return r.json()


def trainee(sandbox, email: str) -> tuple[Aidant, dict]:
    """A trainee who signed up and logged in with a code (no e-mailed link)."""
    account = sign_up(sandbox, email)
    session = requests.Session()
    device = Device(account["totp_secret"])
    step = int(time.time() // 30)
    r = session.post(
        sandbox.url + "/api/login", json={"email": email, "otp": pyotp.TOTP(device.secret).at(step * 30)}, timeout=20
    )
    assert r.status_code == 200 and r.json() == {"link_sent": False, "session_opened": True}, r.text
    device.last_step = step
    return Aidant(
        sandbox, account["aidant"]["email"], account["aidant"]["id"], account["structure"]["id"], session, [device]
    ), account


CREATED, REVOKED, DONE = "Votre mandat Aidants Connect avec", "est révoqué", "Une démarche a été effectuée"
ANGELA = "angela.dubois@example.fr"


def inbox(aidant: Aidant, subject: str, to: str = ANGELA, timeout: float = 15) -> list[dict]:
    """The trainee's inbox once it holds an e-mail to ``to`` whose subject has
    ``subject`` (the outbox delivers it asynchronously), or as it is after ``timeout``.
    (The scheduled run may add the expiry reminder of Rosalie's mandate, to the
    trainee, at any time.)"""
    deadline = time.time() + timeout
    while True:
        messages = aidant.get("/api/sandbox/inbox").json()["messages"]
        if any(subject in m["subject"] and m["to"] == to for m in messages) or time.time() > deadline:
            return messages
        time.sleep(0.2)


def has(messages: list[dict], subject: str, to: str = ANGELA) -> bool:
    return any(subject in m["subject"] and m["to"] == to for m in messages)


# -- what it is ----------------------------------------------------------------------------


def test_the_sandbox_says_what_it_is_on_its_api_every_page_the_demo_site_and_franceconnect(sandbox):
    about = requests.get(sandbox.url + "/api/sandbox", timeout=10).json()
    assert about["sandbox"] is True and about["trainee_days"] == 30
    assert "Angela Claire Louise DUBOIS" in [s["person"]["full_name"] for s in about["situations"]]
    for path in ("/", "/connexion/", "/bac-a-sable/", "/bac-a-sable/carte/", "/mandats/", "/fi/", "/nope/"):
        page = requests.get(sandbox.url + path, timeout=10).text
        assert TRAINING in page and 'aria-label="Environnement de formation"' in page, path
        assert "(bac à sable de formation, données fictives)</title>" in page, path
    demo = requests.get(sandbox.url + "/demo/", timeout=10)
    assert demo.status_code == 200 and TRAINING in demo.text
    fc = requests.get(sandbox.url + "/franceconnect/.well-known/openid-configuration", timeout=10).json()
    assert fc["issuer"] == sandbox.url + "/franceconnect"  # its own stand-in, never FranceConnect
    assert sandbox.env["PROFILE"] == "sandbox" and sandbox.env["TABLE_NAME"] == "aidants-connect-bac-a-sable"


def test_a_trainee_signs_up_and_a_right_code_opens_the_session_with_no_email(sandbox):
    aidant, account = trainee(sandbox, "claire.formation@example.fr")
    assert set(account) >= {"aidant", "totp_secret", "structure"}
    assert set(account["aidant"]) >= {"id", "email"} and set(account["structure"]) >= {"id", "name"}
    me = aidant.get("/api/me").json()
    assert me["aidant"]["email"] == "claire.formation@example.fr"
    assert me["structure"]["id"] == account["structure"]["id"]
    mine = aidant.get("/api/sandbox/trainee").json()
    assert [s["person"]["full_name"] for s in mine["situations"]][0] == "Angela Claire Louise DUBOIS"
    # The sandbox starts no SMTP sink, and nothing was sent anywhere.
    assert not list((sandbox.state / "mail").glob("*.eml"))
    assert "SMTP sink" not in (sandbox.state / "up.out").read_text()


def test_a_whole_session_mandate_with_angela_used_on_the_demo_site_revoked_printed(sandbox):
    aidant, _ = trainee(sandbox, "dominique.formation@example.fr")
    draft = aidant.new_draft(["transports"], "long")
    page, draft_id, error = landing(aidant.identify(draft["franceconnect_url"], "angela"))
    assert (page, draft_id, error) == ("/mandats/recapitulatif/", draft["draft"], None)
    assert aidant.get(f"/api/mandates/drafts/{draft_id}").json()["usager"]["family_name"] == "DUBOIS"
    signed = aidant.sign(draft_id)
    assert signed.status_code == 201, signed.text
    mandate_id = signed.json()["mandate"]
    created = inbox(aidant, CREATED)
    assert has(created, CREATED), created

    # The demo site plays FranceConnect: "Vous êtes un aidant professionnel".
    browser = aidant.session
    to_authorize = browser.get(sandbox.url + "/demo/login", allow_redirects=False, timeout=10).headers["Location"]
    to_fi = browser.get(to_authorize, allow_redirects=False, timeout=10).headers["Location"]
    txn = parse_qs(urlsplit(to_fi).query)["txn"][0]
    offer = aidant.get(f"/api/fi/transactions/{txn}").json()
    angela = next(u for u in offer["usagers"] if u["family_name"] == "DUBOIS")
    chosen = aidant.post(f"/api/fi/transactions/{txn}", {"usager": angela["id"], "demarche": "transports"})
    assert chosen.status_code == 200, chosen.text
    service = browser.get(chosen.json()["redirect_to"], timeout=20)
    assert service.status_code == 200 and "Bonjour Angela Claire Louise DUBOIS" in service.text
    assert TRAINING in service.text

    revoked = aidant.revoke(mandate_id)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    printed = aidant.get(f"/api/mandates/{mandate_id}/revocation/print")
    assert printed.status_code == 200 and "DUBOIS" in printed.text
    assert aidant.get(f"/api/mandates/{mandate_id}/print").status_code == 200
    messages = inbox(aidant, REVOKED)
    assert has(messages, REVOKED) and has(messages, DONE), [m["subject"] for m in messages]


def test_two_trainees_of_one_group_never_see_each_others_data(sandbox):
    ana, _ = trainee(sandbox, "ana.groupe@example.fr")
    ben, _ = trainee(sandbox, "ben.groupe@example.fr")
    mandate_of_ana = ana.create_mandate(["papiers"], identity="angela")
    assert ben.get(f"/api/mandates/{mandate_of_ana}").status_code == 404
    assert ben.get(f"/api/mandates/{mandate_of_ana}/print").status_code == 404
    names_ben = {u["name"] for u in ben.get("/api/usagers").json()["usagers"]}
    assert "Angela Claire Louise DUBOIS" not in names_ben  # Ben's Angela has no mandate yet
    ids_ana = {u["id"] for u in ana.get("/api/usagers").json()["usagers"]}
    ids_ben = {u["id"] for u in ben.get("/api/usagers").json()["usagers"]}
    assert ids_ana and ids_ben and not ids_ana & ids_ben
    assert has(inbox(ana, CREATED), CREATED)
    assert not [m for m in ben.get("/api/sandbox/inbox").json()["messages"] if m["to"] == ANGELA]


def test_reset_gives_back_the_starting_situations_in_one_click(sandbox):
    aidant, account = trainee(sandbox, "remi.reset@example.fr")
    created = aidant.create_mandate(["logement"], identity="jimmy")
    assert has(inbox(aidant, CREATED, to="jimmy.roux@example.fr"), CREATED, to="jimmy.roux@example.fr")
    before = aidant.get("/api/sandbox/trainee").json()
    jimmy = next(s for s in before["situations"] if s["key"] == "jimmy")
    assert [m["id"] for m in jimmy["mandates"]] == [created]
    r = aidant.post("/api/sandbox/trainee/reset")
    assert r.status_code == 200, r.text
    after = aidant.get("/api/sandbox/trainee").json()  # the session followed the trainee
    assert after["structure"]["id"] != account["structure"]["id"]
    assert next(s for s in after["situations"] if s["key"] == "jimmy")["mandates"] == []
    assert {s["key"]: len(s["mandates"]) for s in after["situations"]} == {
        "angela": 0,
        "jimmy": 0,
        "rosalie": 1,
        "michel": 1,
        "jordy": 1,
        "florence": 1,
    }
    assert aidant.get(f"/api/mandates/{created}").status_code == 404
    assert not [m for m in aidant.get("/api/sandbox/inbox").json()["messages"] if m["to"] == "jimmy.roux@example.fr"]


def test_sign_ups_are_refused_precisely_then_rate_limited(sandbox):
    url = sandbox.url + "/api/sandbox/trainees"
    r = requests.post(url, json={"email": "a,b@example.fr", "first_name": "A", "last_name": "B"}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "email"
    r = requests.post(url, data="x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415
    body = {"email": "limite@example.fr", "first_name": "Lim", "last_name": "Ite"}
    statuses = [requests.post(url, json=body, timeout=20).status_code for _ in range(4)]
    assert statuses == [201, 409, 409, 429]
    r = requests.post(url, json=body, timeout=10)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_the_sandbox_api_keeps_to_its_description(sandbox, tmp_path):
    """schemathesis on the sandbox's operations, anonymous then as a trainee."""
    aidant, _ = trainee(sandbox, "fuzz.sandbox@example.fr")
    cookie = aidant.session.cookies["ac_session"]
    runs = [
        _schemathesis(sandbox, tmp_path / "anonymous", 40, "--include-tag", "sandbox"),
        _schemathesis(
            sandbox, tmp_path / "trainee", 40, "--include-tag", "sandbox", "-H", f"Cookie: ac_session={cookie}"
        ),
    ]
    for run in runs:
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        selected = re.search(r"Selected: (\d+)/\d+", run.stdout)
        assert selected and int(selected[1]) == 5, run.stdout[-3000:]


# -- refusals ------------------------------------------------------------------------------


def test_local_up_refuses_to_start_the_sandbox_against_the_production_table(tmp_path):
    env = {**os.environ, "TABLE_NAME": "aidants-connect", "LOCAL_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "local", "up", "--sandbox", "--in-memory"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Refusing to start the training sandbox" in done.stderr and "production table" in done.stderr
    assert not (tmp_path / "stack.json").exists()


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/sandbox"),
        ("POST", "/api/sandbox/trainees"),
        ("GET", "/api/sandbox/trainee"),
        ("POST", "/api/sandbox/trainee/reset"),
        ("GET", "/api/sandbox/inbox"),
    ],
)
def test_production_refuses_every_sandbox_route(stack, method, path):
    body = {"email": "intrus@example.fr", "first_name": "In", "last_name": "Trus"}
    r = requests.request(method, stack.url + path, json=body if method == "POST" else None, timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    stack.use_store()
    from shared import accounts

    assert accounts.find_aidant_by_email("intrus@example.fr") is None


def test_production_serves_no_sandbox_page_and_says_nothing_of_a_training_environment(stack):
    assert requests.get(stack.url + "/bac-a-sable/", timeout=10).status_code == 404
    assert requests.get(stack.url + "/js/pages/bac-a-sable.js", timeout=10).status_code == 404
    for path in ("/", "/connexion/"):
        assert TRAINING not in requests.get(stack.url + path, timeout=10).text
    assert TRAINING not in requests.get(stack.url + "/demo/", timeout=10).text
