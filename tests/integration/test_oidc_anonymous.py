"""Anonymous callers of the identity provider write nothing permanent (issue 14).

A request with neither an aidant session nor client authentication (a browser at
/oidc/authorize, an unauthenticated client at /oidc/token, a bad token at
/oidc/userinfo, /api/fi/transactions without a session) may be sent by anybody, as
often as they like: it must not add to the journal, which is never deleted. Its
refusal is one JSON log line. The one thing such a request still stores, a valid
authorization's transaction, lives ten minutes (TTL) and is bounded per client and
minute.

Items are counted with a Scan of DynamoDB Local: in this test only, never on a
request path.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import boto3
import pytest
import requests

from .oidc_fc import make_world, query_of, register_client

N = int(os.environ.get("ANONYMOUS_REQUESTS", "40"))  # per kind of request
IGNORED_KINDS = {"outbox"}  # the scheduled notify run may write these meanwhile


@pytest.fixture(scope="module")
def world(stack):
    return make_world(stack)


def _table_items(stack) -> dict[tuple[str, str], dict]:
    stack.use_store()
    client = boto3.client(
        "dynamodb",
        endpoint_url=os.environ["DYNAMODB_HOST"],
        region_name="eu-west-3",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items, start = {}, None
    while True:
        page = client.scan(
            TableName=os.environ.get("TABLE_NAME", "aidants-connect"),
            ProjectionExpression="pk, sk, kind, #t",
            ExpressionAttributeNames={"#t": "ttl"},
            **({"ExclusiveStartKey": start} if start else {}),
        )
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = {
                "kind": item.get("kind", {}).get("S"),
                "ttl": int(item["ttl"]["N"]) if "ttl" in item else None,
            }
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def _created(stack, send) -> tuple[Counter, dict]:
    """Send the requests; the items they added to the table, by kind."""
    before = _table_items(stack)
    send()
    after = _table_items(stack)
    new = {key: value for key, value in after.items() if key not in before and value["kind"] not in IGNORED_KINDS}
    return Counter(value["kind"] for value in new.values()), new


def _refusal_lines(stack, function: str) -> list[dict]:
    lines = []
    for line in (stack.state / "logs" / f"{function}.log").read_text(errors="replace").splitlines():
        if '"event":"oidc_refused"' in line:
            lines.append(json.loads(line[line.index("{") :]))
    return lines


def _authorize_params(fc, **extra) -> dict:
    return {
        "response_type": "code",
        "client_id": fc.client_id,
        "redirect_uri": fc.redirect_uri,
        "scope": "openid profile",
        "state": "etat-" + os.urandom(6).hex(),
        "nonce": "n" * 16,
        "acr_values": "eidas1",
        **extra,
    }


def test_refused_authorization_requests_write_nothing_and_are_logged(stack, world):
    fc = world.fc
    url = fc.metadata["authorization_endpoint"]
    refusals = [
        {**_authorize_params(fc), "client_id": "inconnu"},  # shown, not redirected
        {**_authorize_params(fc), "redirect_uri": "https://evil.example/cb"},
        {k: v for k, v in _authorize_params(fc).items() if k != "nonce"},  # redirected
        {**_authorize_params(fc), "request": "eyJhbGciOiJub25lIn0.e30."},
        {**_authorize_params(fc), "prompt": "none"},
        {**_authorize_params(fc), "scope": "profile"},
    ]
    logged_before = len(_refusal_lines(stack, "oidc_authorize"))

    def send():
        for i in range(N):
            params = refusals[i % len(refusals)]
            if i % 2:
                r = requests.post(url, data=params, allow_redirects=False, timeout=10)
            else:
                r = requests.get(url, params=params, allow_redirects=False, timeout=10)
            assert r.status_code in (302, 400) and "/fi/" not in r.headers.get("Location", ""), r.text

    created, _ = _created(stack, send)
    assert created == Counter(), created
    lines = _refusal_lines(stack, "oidc_authorize")[logged_before:]
    assert len(lines) == N
    assert {line["endpoint"] for line in lines} == {"/oidc/authorize"}
    assert {line["error"] for line in lines} == {
        "invalid_client",
        "invalid_request",
        "request_not_supported",
        "login_required",
        "invalid_scope",
    }
    assert all(set(line) == {"event", "endpoint", "error", "client_id", "reason"} for line in lines)
    print(f"\n{N} refused anonymous /oidc/authorize requests: {sum(created.values())} items created")


def test_unauthenticated_token_requests_write_nothing_and_are_logged(stack, world):
    fc = world.fc
    url = fc.metadata["token_endpoint"]
    pending = world.authorize()
    code = query_of(world.code_for(pending))["code"]  # a real code, sent without a valid client
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": fc.redirect_uri,
        "code_verifier": pending.verifier,
    }
    attempts = [
        dict(data=form),  # no client authentication at all
        dict(data=form, auth=(fc.client_id, "pas-le-secret")),
        dict(data=form, auth=("inconnu", "secret")),
        dict(data={**form, "client_id": fc.client_id, "client_secret": "pas-le-secret"}),
        dict(data={**form, "client_secret": fc.client_secret}, auth=(fc.client_id, fc.client_secret)),
        dict(data=form, headers={"Authorization": "Basic %%%"}),
        dict(data={**form, "grant_type": "password"}),
    ]
    logged_before = len(_refusal_lines(stack, "oidc_token"))

    def send():
        for i in range(N):
            r = requests.post(url, timeout=10, **attempts[i % len(attempts)])
            assert r.status_code in (400, 401), r.text

    created, _ = _created(stack, send)
    assert created == Counter(), created
    lines = _refusal_lines(stack, "oidc_token")[logged_before:]
    assert len(lines) == N and {line["endpoint"] for line in lines} == {"/oidc/token"}
    log_text = json.dumps(lines)
    for secret in (code, fc.client_secret, "pas-le-secret", pending.verifier):
        assert secret not in log_text
    # The code was never redeemed: its own client still gets its token.
    assert "id_token" in fc.token_request(code, verifier=pending.verifier).json()
    print(f"\n{N} unauthenticated /oidc/token requests: {sum(created.values())} items created")


def test_userinfo_requests_without_a_valid_token_write_nothing_and_are_logged(stack, world):
    url = world.fc.metadata["userinfo_endpoint"]
    fake = "jeton-" + os.urandom(16).hex()
    attempts = [
        dict(method="GET"),
        dict(method="GET", headers={"Authorization": f"Bearer {fake}"}),
        dict(method="POST", data={"access_token": fake}),
        dict(method="POST", data={"access_token": fake}, headers={"Authorization": f"Bearer {fake}"}),
        dict(method="GET", headers={"Authorization": "Bearer"}),
    ]
    logged_before = len(_refusal_lines(stack, "oidc_userinfo"))

    def send():
        for i in range(N):
            attempt = dict(attempts[i % len(attempts)])
            r = requests.request(attempt.pop("method"), url, timeout=10, **attempt)
            assert r.status_code in (400, 401), r.text

    created, _ = _created(stack, send)
    assert created == Counter(), created
    lines = _refusal_lines(stack, "oidc_userinfo")[logged_before:]
    assert len(lines) == N and fake not in json.dumps(lines)
    print(f"\n{N} /oidc/userinfo requests without a valid token: {sum(created.values())} items created")


def test_transactions_without_a_session_write_nothing(stack, world):
    pending = world.authorize()

    def send():
        for i in range(N):
            url = f"{stack.url}/api/fi/transactions/{pending.txn if i % 2 else 'inconnue'}"
            r = (
                requests.get(url, timeout=10)
                if i % 3
                else requests.post(url, json={"usager": "x", "demarche": "papiers"}, timeout=10)
            )
            assert r.status_code == 401, r.text

    created, _ = _created(stack, send)
    assert created == Counter(), created


def test_valid_anonymous_authorizations_store_only_expiring_transactions(stack):
    fc = register_client(stack)  # its own allowance
    url = fc.metadata["authorization_endpoint"]

    def send():
        for i in range(N):
            params = _authorize_params(fc)
            r = (
                requests.post(url, data=params, allow_redirects=False, timeout=10)
                if i % 2
                else requests.get(url, params=params, allow_redirects=False, timeout=10)
            )
            assert r.status_code == 302 and "/fi/?txn=" in r.headers["Location"], r.text

    started = int(time.time())
    created, new = _created(stack, send)
    # One transaction each, and the client's rate counter: nothing in the journal,
    # nothing without a TTL, nothing that outlives the transaction's ten minutes.
    assert created == Counter({"oidc_transaction": N, "rate_counter": 1}), created
    assert all(item["ttl"] is not None and item["ttl"] <= started + 600 + 60 for item in new.values())
    print(
        f"\n{N} valid anonymous /oidc/authorize requests: {created['oidc_transaction']} transactions "
        f"(TTL 600 s) + {created['rate_counter']} counter (TTL 120 s), {created['journal']} journal entries"
    )


def test_authorizations_past_the_clients_allowance_are_temporarily_unavailable(stack):
    fc = register_client(stack)
    stack.use_store()
    from local import stack as stack_yml
    from shared.config import settings
    from shared.store import RateCounter as C

    # The bound the function runs with: stack.yml's (docs/capacity.md), else the default.
    configured = next(fn for fn in stack_yml.functions().values() if fn.folder == "oidc_authorize")
    limit = int(
        configured.environment.get("OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE")
        or settings().oidc_authorize_per_client_per_minute
    )
    now_s = int(time.time())
    # This minute's allowance is used but for three (as if limit-3 requests came first).
    C(*C.key(f"oidc-authorize#{fc.client_id}"), count=limit - 3, window_ends=now_s + 60, ttl=now_s + 120).save()
    answers = []

    def send():
        for _ in range(8):
            params = _authorize_params(fc)
            r = requests.get(fc.metadata["authorization_endpoint"], params=params, allow_redirects=False, timeout=10)
            answers.append((params["state"], r))

    created, _ = _created(stack, send)
    served = [r for _, r in answers if "/fi/?txn=" in r.headers.get("Location", "")]
    assert len(served) == 3 and created == Counter({"oidc_transaction": 3}), created
    for state, r in answers[3:]:
        # RFC 6749 §4.1.2.1: the redirect URI is trusted, so the error goes back there.
        assert r.status_code == 302 and r.headers["Location"].startswith(fc.redirect_uri + "?")
        back = query_of(r.headers["Location"])
        assert back["error"] == "temporarily_unavailable" and back["state"] == state
        assert back["iss"] == stack.url
    # Another client is not affected.
    other = register_client(stack)
    r = requests.get(
        other.metadata["authorization_endpoint"], params=_authorize_params(other), allow_redirects=False, timeout=10
    )
    assert "/fi/?txn=" in r.headers["Location"]
