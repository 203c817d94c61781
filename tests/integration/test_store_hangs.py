"""A store that hangs while a write is in flight: the answer is the right one, or a
clean 503 after which the caller's retry works (docs/reliability.md, "A 503 means
nothing happened").

The store is the real DynamoDB Local, frozen with SIGSTOP at the moment the write
that consumes or creates something reaches it (``store_freezer``), and resumed with
SIGCONT: the write was received, and is applied when the store resumes. Shorter than
the request budget (8 s): the caller waits, and gets its success. Longer: the caller
gets a 503 and nothing it can see has changed, except what docs/reliability.md lists
(a single-use thing whose write was applied after the budget), which the next
attempt meets as an ordinary, explained refusal.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.conftest import Mailbox, Stack, _reset_shared_caches, extract_link

from .mandate_flow import new_aidant
from .oidc_fc import code_of, make_world
from .store_freezer import FreezingProxy

SHORT = 3.0  # seconds frozen: more than a store call's read timeout (2 s), less than the budget
LONG = 11.0  # more than the request budget (8 s)


@pytest.fixture(scope="module")
def frozen_stack(tmp_path_factory):
    """A stack whose functions reach DynamoDB Local through the freezing relay."""
    from local import dynamodb, launcher

    saved_env = dict(os.environ)
    state = tmp_path_factory.mktemp("hang-stack")
    store_port = launcher.free_port()
    (state / "logs").mkdir(parents=True, exist_ok=True)
    store = dynamodb.start("dynamodb-local", store_port, state / "logs" / "dynamodb.log")
    proxy = FreezingProxy(store_port, store.pid)
    running = None
    try:
        running = launcher.start(state, ["--store-url", proxy.url])
        stack = Stack(running.url, running.state, running.env, running.process, running.seed())
        stack.proxy = proxy
        yield stack
    finally:
        proxy.close()
        if running is not None:
            running.stop()
        store.terminate()
        store.wait(10)
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


@pytest.fixture
def world(frozen_stack):
    world = make_world(frozen_stack)
    # One whole flow first: the token function caches the client, so that the write
    # is the first store call of the next token request.
    pending = world.fc.authorize(requests.Session())
    world.fc.fetch_token(pending, world.code_for(pending))
    return world


def _timed(call):
    started = time.time()
    response = call()
    return response, time.time() - started


# -- token redemption -------------------------------------------------------------------------


def test_a_store_frozen_during_code_redemption_for_less_than_the_budget_still_gives_the_token(frozen_stack, world):
    pending = world.fc.authorize(requests.Session())
    redirect_to = world.code_for(pending)
    fired = frozen_stack.proxy.arm("TransactWriteItems", "OIDCTOKEN#", SHORT)
    response, took = _timed(lambda: world.fc.token_request(code_of(redirect_to), verifier=pending.verifier))
    assert fired.is_set()
    assert response.status_code == 200, response.text
    assert took >= SHORT - 0.5  # it did wait for the store
    assert world.fc.userinfo(response.json()["access_token"]).status_code == 200


def test_a_store_frozen_during_code_redemption_for_longer_than_the_budget_answers_503_then_explains(
    frozen_stack, world
):
    pending = world.fc.authorize(requests.Session())
    code = code_of(world.code_for(pending))
    fired = frozen_stack.proxy.arm("TransactWriteItems", "OIDCTOKEN#", LONG)
    response, took = _timed(lambda: world.fc.token_request(code, verifier=pending.verifier))
    assert fired.is_set()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert took < 10  # within the budget, before any gateway gives up
    frozen_stack.proxy.wait_thawed()
    # The write was applied when the store resumed, after the request had answered:
    # the code is used, and the token written with it is one nobody received. The
    # retry is refused as a replay, which revokes that token (docs/reliability.md).
    retry = world.fc.token_request(code, verifier=pending.verifier)
    assert retry.status_code == 400 and retry.json()["error"] == "invalid_grant", retry.text
    frozen_stack.use_store()
    # ...and a new authorization from FranceConnect goes through at once.
    pending = world.fc.authorize(requests.Session())
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.userinfo(token["access_token"]).status_code == 200


# -- login: the TOTP step, then the e-mailed link ----------------------------------------------


def _login_link(stack, email: str, otp_code: str) -> str:
    before = stack.mail.count()
    r = requests.post(stack.url + "/api/login", json={"email": email, "otp": otp_code}, timeout=30)
    assert r.status_code == 200, r.text
    message = stack.mail.wait_for(email, "connexion", after=before)
    return extract_link(Mailbox.text(message), "/api/login/")


def test_a_store_frozen_while_a_totp_step_is_consumed_still_logs_in(frozen_stack):
    """botocore re-sends the write after its read timeout; the copy that lands second
    used to fail its own condition ``last_step < step``: a right code refused."""
    email = frozen_stack.new_aidant()
    fired = frozen_stack.proxy.arm("UpdateItem", "TOTP#", SHORT)
    link = _login_link(frozen_stack, email, frozen_stack.otp(email))
    assert fired.is_set() and link


def test_a_store_frozen_while_a_login_link_is_used_opens_the_session(frozen_stack):
    email = frozen_stack.new_aidant()
    link = _login_link(frozen_stack, email, frozen_stack.otp(email))
    browser = requests.Session()
    fired = frozen_stack.proxy.arm("TransactWriteItems", "LOGINLINK#", SHORT)
    r, took = _timed(lambda: browser.get(link, allow_redirects=False, timeout=30))
    assert fired.is_set() and took >= SHORT - 0.5
    assert r.status_code == 302, r.text
    assert browser.get(frozen_stack.url + "/api/me", timeout=30).status_code == 200


def test_a_store_frozen_past_the_budget_while_a_login_link_is_used_answers_503_and_nothing_half_done(frozen_stack):
    email = frozen_stack.new_aidant()
    link = _login_link(frozen_stack, email, frozen_stack.otp(email))
    browser = requests.Session()
    fired = frozen_stack.proxy.arm("TransactWriteItems", "LOGINLINK#", LONG)
    r, took = _timed(lambda: browser.get(link, allow_redirects=False, timeout=30))
    assert fired.is_set()
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable", r.text
    assert took < 10 and "set-cookie" not in {k.lower() for k in r.headers}
    frozen_stack.proxy.wait_thawed()
    # Applied when the store resumed: the link is used (its session exists, but its
    # cookie never reached anyone). The next click says so; a new code gives a new link.
    again = browser.get(link, allow_redirects=False, timeout=30)
    assert again.status_code == 410, again.text
    fresh = _login_link(frozen_stack, email, frozen_stack.otp(email, offset_steps=1))
    assert browser.get(fresh, allow_redirects=False, timeout=30).status_code == 302


# -- mandates: signature and revocation ---------------------------------------------------------


def _mandate_is_whole(stack, mandate_id: str, demarches: set[str]) -> None:
    """The signature's transaction, all of it: mandate, autorisations, journal, e-mail."""
    stack.use_store()
    from shared import journal as journal_module
    from shared.store import Autorisation, Mandate

    mandate = Mandate.get(*Mandate.key(mandate_id))
    autorisations = {a.demarche for a in Autorisation.query(mandate.pk, Autorisation.sk.startswith("AUTORISATION#"))}
    assert autorisations == demarches
    assert any(
        e.mandate_id == mandate_id and e.action == "mandate_created"
        for e in journal_module.for_structure(mandate.structure_id)
    )


def test_a_store_frozen_while_a_mandate_is_signed_gives_the_mandate(frozen_stack):
    aidant = new_aidant(frozen_stack)
    draft = aidant.new_draft(("papiers", "social"))
    aidant.identify(draft["franceconnect_url"])
    fired = frozen_stack.proxy.arm("TransactWriteItems", "DRAFT#", SHORT)
    r, took = _timed(lambda: aidant.sign(draft["draft"]))
    assert fired.is_set() and took >= SHORT - 0.5
    assert r.status_code == 201, r.text
    _mandate_is_whole(frozen_stack, r.json()["mandate"], {"papiers", "social"})


def test_a_store_frozen_past_the_budget_while_a_mandate_is_signed_answers_503_and_the_retry_finds_it(frozen_stack):
    aidant = new_aidant(frozen_stack)
    draft = aidant.new_draft(("papiers", "social"))
    aidant.identify(draft["franceconnect_url"])
    fired = frozen_stack.proxy.arm("TransactWriteItems", "DRAFT#", LONG)
    r, took = _timed(lambda: aidant.sign(draft["draft"]))
    assert fired.is_set()
    assert r.status_code == 503, r.text
    assert took < 10
    frozen_stack.proxy.wait_thawed()
    # The signature was applied when the store resumed, whole. The retry is told so,
    # with the mandate, which the front-end then shows.
    retry = aidant.sign(draft["draft"])
    assert retry.status_code == 409 and retry.json()["error"] == "draft_already_signed", retry.text
    mandate_id = retry.json()["mandate"]
    _mandate_is_whole(frozen_stack, mandate_id, {"papiers", "social"})
    assert aidant.get(f"/api/mandates/{mandate_id}").status_code == 200


def test_a_store_frozen_while_a_mandate_is_revoked_revokes_it(frozen_stack):
    aidant = new_aidant(frozen_stack)
    mandate_id = aidant.create_mandate(("papiers",))
    fired = frozen_stack.proxy.arm("TransactWriteItems", "revoked_by", SHORT)
    r, took = _timed(lambda: aidant.revoke(mandate_id))
    assert fired.is_set() and took >= SHORT - 0.5
    assert r.status_code == 200, r.text
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["status"] == "revoked"


def test_a_store_frozen_past_the_budget_while_a_mandate_is_revoked_answers_503_and_the_retry_explains(frozen_stack):
    aidant = new_aidant(frozen_stack)
    mandate_id = aidant.create_mandate(("papiers",))
    fired = frozen_stack.proxy.arm("TransactWriteItems", "revoked_by", LONG)
    r, _ = _timed(lambda: aidant.revoke(mandate_id))
    assert fired.is_set()
    assert r.status_code == 503, r.text
    frozen_stack.proxy.wait_thawed()
    retry = aidant.revoke(mandate_id)
    assert retry.status_code == 409 and retry.json()["error"] == "already_revoked", retry.text
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["status"] == "revoked"
