"""The identity provider, driven over HTTP by a real OIDC client playing FranceConnect:
discovery, authorize, aidant login, choice, token, ID token, userinfo."""

from __future__ import annotations

import time

import pytest
import requests
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt

from .oidc_fc import make_world, query_of, register_client


@pytest.fixture(scope="module")
def world(stack):
    return make_world(stack)


def test_discovery_is_complete_and_accepted_by_authlib(stack):
    metadata = requests.get(stack.url + "/.well-known/openid-configuration", timeout=10).json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == stack.url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["acr_values_supported"] == ["eidas1"]
    assert {"client_secret_post", "client_secret_basic"} <= set(metadata["token_endpoint_auth_methods_supported"])
    assert {
        "openid",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
        "preferred_username",
        "profile",
        "birth",
    } <= set(metadata["scopes_supported"])
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    assert jwks["keys"] and all("kid" in k and "d" not in k and "p" not in k for k in jwks["keys"])
    assert {k["alg"] for k in jwks["keys"]} >= {"RS256"}


def test_whole_flow_gives_franceconnect_the_usager_identity(world):
    fc = world.fc
    pending = fc.authorize(world.browser)
    assert pending.response.status_code == 302

    offer = world.browser.get(f"{world.stack.url}/api/fi/transactions/{pending.txn}", timeout=10).json()
    assert offer["client"]["name"] == "FranceConnect (tests)"
    usager = next(u for u in offer["usagers"] if u["id"] == world.usager_id)
    assert usager["family_name"] == "DUBOIS"
    assert sorted(d["key"] for d in usager["demarches"]) == ["argent", "papiers"]
    assert {d["mandate"] for d in usager["demarches"]} == {world.mandate_id}

    redirect_to = world.code_for(pending, "papiers")
    assert redirect_to.startswith(fc.redirect_uri + "?")
    assert query_of(redirect_to)["state"] == pending.state

    token = fc.fetch_token(pending, redirect_to)
    assert token["token_type"].lower() == "bearer" and 0 < token["expires_in"] <= 600
    claims = fc.verify_id_token(token, pending.nonce)
    assert claims["acr"] == "eidas1" and claims["aud"] == fc.client_id
    assert claims["given_name"] == "Angela Claire Louise" and claims["birthplace"] == "75107"
    assert isinstance(claims["auth_time"], int) and claims.header["kid"]

    info = fc.userinfo(token["access_token"])
    assert info.status_code == 200, info.text
    identity = info.json()
    assert identity["sub"] == claims["sub"]
    assert identity["family_name"] == "DUBOIS" and identity["email"] == "angela.dubois@example.fr"


def test_each_step_is_journaled_with_who_acted_for_whom(world, stack):
    fc = world.fc
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending, "argent"))
    assert fc.userinfo(token["access_token"]).status_code == 200
    stack.use_store()
    from shared import journal

    entries = journal.for_aidant(world.aidant_id, limit=20)
    actions = [e.action for e in entries]
    for action in ("oidc_usager_chosen", "oidc_code_issued", "oidc_token_issued"):
        assert action in actions
    chosen = next(e for e in entries if e.action == "oidc_usager_chosen")
    assert (chosen.usager_id, chosen.demarche, chosen.mandate_id, chosen.client_id, chosen.structure_id) == (
        world.usager_id,
        "argent",
        world.mandate_id,
        fc.client_id,
        world.structure_id,
    )


def test_the_token_issuance_journals_the_claims_userinfo_then_serves_unjournaled(world, stack):
    fc = world.fc
    pending = fc.authorize(world.browser, scope="openid family_name birthdate")
    token = fc.fetch_token(pending, world.code_for(pending, "argent"))
    served = fc.userinfo(token["access_token"]).json()
    stack.use_store()
    from shared import journal

    entries = journal.for_aidant(world.aidant_id, limit=20)
    issued = next(e for e in entries if e.action == "oidc_token_issued")
    # The ID token carried exactly these claims; userinfo serves the same ones.
    assert issued.details["claims"].split(",") == sorted(served) == ["birthdate", "family_name", "sub"]
    assert issued.details["scope"] == "openid family_name birthdate"
    assert "oidc_userinfo_served" not in [e.action for e in entries]


def test_the_whole_flow_costs_eight_store_calls(world, stack):
    """One round trip per request where the keys are known (DynamoDB calls, from the
    X-Store-Calls diagnostics header): authorize 1 (the client's allowance and the
    transaction in one TransactWrite), offer 2 (session BatchGet, the structure's
    active autorisations), choice 2 (session BatchGet with the usager and the
    mandate's autorisation, the code's TransactWrite), token 2 (the code, then one
    TransactWrite), userinfo 1 (the token and its autorisation in one BatchGet)."""
    fc = world.fc
    fc.authorize(world.browser)  # opens this minute's allowance window for the client
    world.browser.get(f"{stack.url}/api/me", timeout=10)  # the session's last_seen touched now
    pending = fc.authorize(world.browser)
    offer = world.browser.get(f"{stack.url}/api/fi/transactions/{pending.txn}", timeout=10)
    world.browser.cookies.update(pending.response.cookies)
    choice = world.choose(pending.txn)
    code = query_of(choice.json()["redirect_to"])["code"]
    token = requests.post(
        fc.metadata["token_endpoint"],
        auth=(fc.client_id, fc.client_secret),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": fc.redirect_uri,
            "code_verifier": pending.verifier,
        },
    )
    info = fc.userinfo(token.json()["access_token"])
    calls = [int(r.headers["X-Store-Calls"]) for r in (pending.response, offer, choice, token, info)]
    assert calls == [1, 2, 2, 2, 1], calls
    assert info.status_code == 200


def test_claims_follow_the_granted_scopes(world):
    fc = world.fc
    pending = fc.authorize(world.browser, scope="openid family_name birthdate")
    token = fc.fetch_token(pending, world.code_for(pending))
    claims = fc.verify_id_token(token, pending.nonce)
    identity = fc.userinfo(token["access_token"]).json()
    for claims_seen in (dict(claims), identity):
        assert claims_seen["family_name"] == "DUBOIS" and claims_seen["birthdate"] == "1962-08-24"
        assert "given_name" not in claims_seen and "email" not in claims_seen and "birthplace" not in claims_seen


def test_sub_is_stable_per_usager_and_differs_between_clients(world, stack):
    other = register_client(stack)
    subs = []
    for fc in (world.fc, world.fc, other):
        pending = fc.authorize(world.browser)
        token = fc.fetch_token(pending, world.code_for(pending))
        subs.append(fc.verify_id_token(token, pending.nonce)["sub"])
    assert subs[0] == subs[1] != subs[2]


def test_client_secret_post_is_accepted_too(world, stack):
    fc = register_client(stack, auth_method="client_secret_post")
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending))
    assert fc.verify_id_token(token, pending.nonce)["aud"] == fc.client_id


def test_flow_without_pkce_works(world):
    fc = world.fc
    pending = fc.authorize(world.browser, pkce=False)
    token = fc.fetch_token(pending, world.code_for(pending))
    assert fc.userinfo(token["access_token"]).status_code == 200


def test_legacy_client_gets_an_hs256_id_token_signed_with_its_secret(world, stack):
    fc = register_client(stack, legacy_hs256=True)
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending))
    claims = fc.verify_id_token(token, pending.nonce, hs256_secret=fc.client_secret)
    assert claims.header["alg"] == "HS256" and claims["family_name"] == "DUBOIS"


def test_userinfo_is_a_signed_jwt_when_the_client_registered_for_it(world, stack):
    fc = register_client(stack, userinfo_signed_response_alg="RS256")
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending))
    answer = fc.userinfo(token["access_token"])
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/jwt")
    decoded = jwt.decode(answer.text, fc.jwks(), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    assert decoded.claims["iss"] == stack.url and decoded.claims["aud"] == fc.client_id
    assert decoded.claims["family_name"] == "DUBOIS"


def test_userinfo_answers_post_as_well(world):
    fc = world.fc
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending))
    r = requests.post(
        fc.metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert r.status_code == 200 and r.json()["family_name"] == "DUBOIS"


def test_seeded_demo_client_and_usager_work_together(stack):
    seed = stack.seed
    assert seed["client"]["redirect_uri"] == stack.url + "/demo/callback"
    stack.use_store()
    from shared.oidc import claims

    assert seed["usager"]["sub"] == claims.subject_for(seed["usager"]["id"], seed["client"]["client_id"])
    assert seed["mandate"]["id"]


def test_prompt_login_requires_a_login_newer_than_the_request(world, stack):
    fc = world.fc
    pending = fc.authorize(world.browser, prompt="login")
    stale = world.choose(pending.txn)
    assert stale.status_code == 401 and stale.json()["error"] == "login_required"
    stack.login(world.browser, world.aidant_email, offset_steps=1)
    token = fc.fetch_token(pending, world.code_for(pending))
    assert fc.verify_id_token(token, pending.nonce)["auth_time"] >= int(time.time()) - 60


def test_an_empty_max_age_is_as_if_omitted(world):
    pending = world.fc.authorize(world.browser, max_age="")  # RFC 6749 §3.1
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.userinfo(token["access_token"]).status_code == 200


def test_max_age_requires_a_login_at_most_that_old_when_the_request_arrives(world, stack):
    fc = world.fc
    time.sleep(1.1)  # the aidant's login is now at least a second older than any request
    # A generous max_age: the current login is fine, and auth_time is in the ID token.
    pending = fc.authorize(world.browser, max_age="3600")
    token = fc.fetch_token(pending, world.code_for(pending))
    assert "auth_time" in fc.verify_id_token(token, pending.nonce)
    # max_age=0 is prompt=login: refused until the aidant logs in again, then served.
    requested_at = int(time.time())
    pending = fc.authorize(world.browser, max_age="0")
    stale = world.choose(pending.txn)
    assert stale.status_code == 401 and stale.json()["error"] == "login_required"
    world.login_again()
    token = fc.fetch_token(pending, world.code_for(pending))
    assert fc.verify_id_token(token, pending.nonce)["auth_time"] >= requested_at
