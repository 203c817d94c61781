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

from tests.conftest import Stack, _reset_shared_caches

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
        frozen_stack, world):
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
