"""Every attack of issue 3 against the identity provider, each with its exact answer.
FranceConnect is played by Authlib's client; the aidant by a logged-in browser."""

from __future__ import annotations

import json
import time

import pytest
import requests
from authlib.integrations.base_client import OAuthError

from .oidc_fc import code_of, make_world, new_usager_with_mandate, query_of, register_client


@pytest.fixture(scope="module")
def world(stack):
    return make_world(stack)


def _oauth_error(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    return response.json()["error"]


def _journal_reasons(stack, aidant_id: str) -> list[str]:
    stack.use_store()
    from shared import journal

    return [e.reason for e in journal.for_aidant(aidant_id, limit=30) if e.action == "oidc_refused"]


# -- before the redirect URI is trusted: shown here, never redirected -----------------------


def test_wrong_redirect_uri_is_refused_without_redirecting(world):
    pending = world.fc.authorize(requests.Session(), redirect_uri="https://evil.example/callback")
    assert pending.response.status_code == 400 and "Location" not in pending.response.headers
    assert _oauth_error(pending.response) == "invalid_request"


def test_redirect_uri_must_match_exactly_not_by_prefix(world):
    pending = world.fc.authorize(requests.Session(), redirect_uri=world.fc.redirect_uri + "/../evil")
    assert pending.response.status_code == 400 and "Location" not in pending.response.headers


def test_unknown_client_is_refused_without_redirecting(world):
    fc = world.fc
    url = fc.metadata["authorization_endpoint"]
    r = requests.get(
        url,
        allow_redirects=False,
        timeout=10,
        params={
            "response_type": "code",
            "client_id": "nobody",
            "redirect_uri": fc.redirect_uri,
            "scope": "openid",
            "state": "s" * 20,
            "nonce": "n" * 20,
        },
    )
    assert r.status_code == 400 and "Location" not in r.headers
    assert _oauth_error(r) == "invalid_client"


def test_error_before_redirect_is_a_french_page_for_a_browser(world):
    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    pending = world.fc.authorize(browser, redirect_uri="https://evil.example/callback")
    assert pending.response.status_code == 400
    assert "text/html" in pending.response.headers["Content-Type"]
    assert "Connexion impossible" in pending.response.text and "pas enregistrée" in pending.response.text


def test_repeated_parameter_is_refused_without_redirecting(world):
    fc = world.fc
    pending = fc.authorize(requests.Session())  # valid request, to borrow its URL
    url = pending.response.request.url + "&state=second"
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and _oauth_error(r) == "invalid_request"


# -- after: redirected with error and state ----------------------------------------------------


def test_missing_state_is_sent_back_as_invalid_request(world):
    pending = world.fc.authorize(requests.Session(), drop=("state",))
    assert pending.response.status_code == 302
    assert pending.location.startswith(world.fc.redirect_uri + "?")
    assert query_of(pending.location)["error"] == "invalid_request"
    assert "state" not in query_of(pending.location)


def test_missing_nonce_is_sent_back_as_invalid_request_with_state(world):
    pending = world.fc.authorize(requests.Session(), drop=("nonce",))
    assert pending.response.status_code == 302 and pending.location.startswith(world.fc.redirect_uri)
    answer = query_of(pending.location)
    assert answer["error"] == "invalid_request" and answer["state"] == pending.state


@pytest.mark.parametrize(
    "params, error",
    [
        ({"scope": "profile email"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"acr_values": "eidas3"}, "invalid_request"),
        ({"pkce": False, "code_challenge": "P" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"pkce": False, "code_challenge": "P" * 43}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "une heure"}, "invalid_request"),
        ({"max_age": "9" * 10}, "invalid_request"),
    ],
)
def test_invalid_request_is_sent_back_with_the_oauth_error(world, params, error):
    pending = world.fc.authorize(requests.Session(), **params)
    assert pending.response.status_code == 302 and pending.location.startswith(world.fc.redirect_uri)
    answer = query_of(pending.location)
    assert answer["error"] == error and answer["state"] == pending.state
    assert answer["iss"] == world.stack.url  # RFC 9207


# -- the aidant's choice -----------------------------------------------------------------------


def test_transaction_is_completed_once(world):
    pending = world.fc.authorize(world.browser)
    assert world.choose(pending.txn).status_code == 200
    again = world.choose(pending.txn)
    assert again.status_code == 409 and again.json()["error"] == "transaction_completed"
    assert world.browser.get(f"{world.stack.url}/api/fi/transactions/{pending.txn}").status_code == 409


def test_transactions_need_a_logged_in_aidant(world):
    pending = world.fc.authorize(world.browser)
    anonymous = requests.Session()
    assert anonymous.get(f"{world.stack.url}/api/fi/transactions/{pending.txn}").status_code == 401
    assert (
        anonymous.post(
            f"{world.stack.url}/api/fi/transactions/{pending.txn}",
            json={"usager": world.usager_id, "demarche": "papiers"},
        ).status_code
        == 401
    )


def test_unknown_transaction_is_not_found(world):
    r = world.browser.get(f"{world.stack.url}/api/fi/transactions/doesnotexist")
    assert r.status_code == 404 and r.json()["error"] == "transaction_not_found"


def test_expired_transaction_cannot_be_completed(world, stack):
    pending = world.fc.authorize(world.browser)
    stack.use_store()
    from shared.store import AuthorizationTransaction as T

    T(*T.key(pending.txn)).update(actions=[T.expires_at.set(int(time.time()) - 1)])
    r = world.choose(pending.txn)
    assert r.status_code == 410 and r.json()["error"] == "transaction_expired"


def test_usager_of_another_structure_is_forbidden_and_journaled(world, stack):
    other_structure = stack.new_structure("Autre structure")
    stranger, _ = new_usager_with_mandate(stack, other_structure, "someone-else")
    pending = world.fc.authorize(world.browser)
    offer = world.browser.get(f"{stack.url}/api/fi/transactions/{pending.txn}").json()
    assert stranger not in [u["id"] for u in offer["usagers"]]
    r = world.choose(pending.txn, usager=stranger)
    assert r.status_code == 403 and r.json()["error"] == "no_active_mandate"
    assert "not_covered_by_mandate" in _journal_reasons(stack, world.aidant_id)
    # The refusal did not use up the transaction.
    assert world.choose(pending.txn).status_code == 200


def test_a_mandate_of_another_structure_named_in_the_choice_is_forbidden(world, stack):
    """The choice names the mandate (read with the session): another structure's, for
    its own usager, is refused as any uncovered choice is."""
    other_structure = stack.new_structure("Autre structure")
    stranger, stranger_mandate = new_usager_with_mandate(stack, other_structure, "someone-else")
    pending = world.fc.authorize(world.browser)
    r = world.choose(pending.txn, usager=stranger, mandate=stranger_mandate)
    assert r.status_code == 403 and r.json()["error"] == "no_active_mandate"
    assert world.choose(pending.txn).status_code == 200


def test_the_mandate_named_in_the_choice_is_only_where_to_look(world, stack):
    """Another usager's mandate named with one's own usager: the code is issued under
    the mandate that really covers this usager and démarche, never the one named."""
    _, foreign_mandate = new_usager_with_mandate(stack, world.structure_id, world.aidant_id)
    pending = world.fc.authorize(world.browser)
    r = world.choose(pending.txn, usager=world.usager_id, mandate=foreign_mandate, demarche="papiers")
    assert r.status_code == 200, r.text
    stack.use_store()
    from shared import journal

    chosen = next(e for e in journal.for_aidant(world.aidant_id, limit=10) if e.action == "oidc_usager_chosen")
    assert (chosen.usager_id, chosen.mandate_id) == (world.usager_id, world.mandate_id)


def test_a_mandate_renewed_after_the_offer_issues_the_code_under_its_successor(world, stack):
    usager_id, old_mandate = new_usager_with_mandate(stack, world.structure_id, world.aidant_id, ("famille",))
    pending = world.fc.authorize(world.browser)
    offer = world.browser.get(f"{stack.url}/api/fi/transactions/{pending.txn}").json()
    offered = next(u for u in offer["usagers"] if u["id"] == usager_id)["demarches"][0]["mandate"]
    assert offered == old_mandate
    stack.use_store()
    from shared import mandates
    from shared.store import Usager

    usager = Usager.get(*Usager.key(usager_id))
    renewed = mandates.create(
        mandates.NewMandate(
            structure_id=world.structure_id,
            usager=usager,
            demarches=["famille"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id=world.aidant_id,
            aidant_name="Test Aidant",
            text_snapshot="Mandat",
        )
    )
    r = world.choose(pending.txn, usager=usager_id, mandate=offered, demarche="famille")
    assert r.status_code == 200, r.text
    token = world.fc.fetch_token(pending, r.json()["redirect_to"])
    assert token["access_token"].startswith(f"{renewed.id}.famille.")


def test_demarche_not_in_the_mandate_is_forbidden(world, stack):
    pending = world.fc.authorize(world.browser)
    r = world.choose(pending.txn, demarche="justice")
    assert r.status_code == 403 and r.json()["error"] == "no_active_mandate"


def test_cross_origin_choice_is_refused(world):
    pending = world.fc.authorize(world.browser)
    r = world.browser.post(
        f"{world.stack.url}/api/fi/transactions/{pending.txn}",
        json={"usager": world.usager_id, "demarche": "papiers"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"


# -- the token endpoint --------------------------------------------------------------------------


def test_bad_client_secret_is_invalid_client(world):
    pending = world.fc.authorize(world.browser)
    code = code_of(world.code_for(pending))
    r = world.fc.token_request(code, verifier=pending.verifier, secret="not-the-secret")
    assert r.status_code == 401 and _oauth_error(r) == "invalid_client"
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_at_token_endpoint_is_invalid_client(world):
    r = world.fc.token_request("whatever", client_id="nobody", secret="x")
    assert r.status_code == 401 and _oauth_error(r) == "invalid_client"


def test_reused_code_is_invalid_grant_and_revokes_the_first_token(world):
    fc = world.fc
    pending = fc.authorize(world.browser)
    redirect_to = world.code_for(pending)
    token = fc.fetch_token(pending, redirect_to)
    assert fc.userinfo(token["access_token"]).status_code == 200

    replay = fc.token_request(code_of(redirect_to), verifier=pending.verifier)
    assert replay.status_code == 400 and _oauth_error(replay) == "invalid_grant"

    after = fc.userinfo(token["access_token"])
    assert after.status_code == 401 and after.json()["error"] == "invalid_token"
    assert after.headers["WWW-Authenticate"].startswith("Bearer")


def test_code_of_another_client_is_invalid_grant_and_stays_usable_by_its_own(world, stack):
    thief = register_client(stack)
    pending = world.fc.authorize(world.browser)
    redirect_to = world.code_for(pending)
    r = thief.token_request(code_of(redirect_to), redirect_uri=world.fc.redirect_uri, verifier=pending.verifier)
    assert r.status_code == 400 and _oauth_error(r) == "invalid_grant"
    assert "id_token" in world.fc.fetch_token(pending, redirect_to)


def test_redirect_uri_at_token_must_equal_the_requests(world):
    pending = world.fc.authorize(world.browser)
    code = code_of(world.code_for(pending))
    r = world.fc.token_request(code, redirect_uri=world.fc.redirect_uri + "?x=1", verifier=pending.verifier)
    assert r.status_code == 400 and _oauth_error(r) == "invalid_grant"


def test_pkce_mismatch_is_invalid_grant(world):
    pending = world.fc.authorize(world.browser)
    code = code_of(world.code_for(pending))
    r = world.fc.token_request(code, verifier="W" * 64)
    assert r.status_code == 400 and _oauth_error(r) == "invalid_grant"


def test_missing_pkce_verifier_is_invalid_request(world):
    pending = world.fc.authorize(world.browser)
    code = code_of(world.code_for(pending))
    r = world.fc.token_request(code)
    assert r.status_code == 400 and _oauth_error(r) == "invalid_request"


def test_expired_code_is_invalid_grant(world, stack):
    pending = world.fc.authorize(world.browser)
    redirect_to = world.code_for(pending)
    stack.use_store()
    from shared import crypto
    from shared.store import AuthorizationCode as C

    C(*C.key(crypto.keyed_hash(code_of(redirect_to), "oidc-code"))).update(
        actions=[C.expires_at.set(int(time.time()) - 1)]
    )
    with pytest.raises(OAuthError) as raised:
        world.fc.fetch_token(pending, redirect_to)
    assert raised.value.error == "invalid_grant"


def test_mandate_revoked_between_choice_and_token_is_invalid_grant(world, stack):
    usager_id, mandate_id = new_usager_with_mandate(stack, world.structure_id, world.aidant_id, ("logement",))
    pending = world.fc.authorize(world.browser)
    r = world.choose(pending.txn, usager=usager_id, demarche="logement")
    assert r.status_code == 200
    stack.use_store()
    from shared.store import Autorisation, now

    Autorisation(*Autorisation.key(mandate_id, "logement")).update(
        actions=Autorisation.closing_actions(now(), world.aidant_id), condition=Autorisation.still_active()
    )
    with pytest.raises(OAuthError) as raised:
        world.fc.fetch_token(pending, r.json()["redirect_to"])
    assert raised.value.error == "invalid_grant"


# -- userinfo ----------------------------------------------------------------------------------------


def test_mandate_revoked_within_the_tokens_lifetime_stops_userinfo(world, stack):
    usager_id, mandate_id = new_usager_with_mandate(stack, world.structure_id, world.aidant_id, ("travail",))
    pending = world.fc.authorize(world.browser)
    r = world.choose(pending.txn, usager=usager_id, demarche="travail")
    token = world.fc.fetch_token(pending, r.json()["redirect_to"])
    assert world.fc.userinfo(token["access_token"]).status_code == 200
    stack.use_store()
    from shared import revocation
    from shared.store import Autorisation, Mandate

    mandate = Mandate.get(*Mandate.key(mandate_id))
    autorisations = list(Autorisation.query(mandate.pk, Autorisation.sk.startswith("AUTORISATION#")))
    revocation.apply(revocation.plan(mandate, autorisations, None), world.aidant_id, world.structure_id)
    r = world.fc.userinfo(token["access_token"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert "revoque" in r.json()["error_description"]  # RFC 6749: ASCII only


def test_an_access_token_renamed_to_another_mandate_is_unknown(world, stack):
    """The token's value names its autorisation, but the keyed hash covers the whole
    value: another name finds no token."""
    _, other_mandate = new_usager_with_mandate(stack, world.structure_id, world.aidant_id)
    pending = world.fc.authorize(world.browser)
    token = world.fc.fetch_token(pending, world.code_for(pending, "papiers"))["access_token"]
    mandate_id, demarche, random_part = token.split(".")
    assert (mandate_id, demarche) == (world.mandate_id, "papiers")
    for forged in (f"{other_mandate}.papiers.{random_part}", f"{mandate_id}.argent.{random_part}", random_part):
        r = world.fc.userinfo(forged)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", forged
    assert world.fc.userinfo(token).status_code == 200


def test_token_used_after_expiry_is_invalid_token(world, stack):
    fc = world.fc
    pending = fc.authorize(world.browser)
    token = fc.fetch_token(pending, world.code_for(pending))
    stack.use_store()
    from shared import crypto
    from shared.store import AccessToken as A

    A(*A.key(crypto.keyed_hash(token["access_token"], "oidc-access-token"))).update(
        actions=[A.expires_at.set(int(time.time()) - 1)]
    )
    r = fc.userinfo(token["access_token"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "headers, status, challenge",
    [
        # RFC 6750 §3.1: no credentials (or another scheme): the realm, no error code.
        ({}, 401, 'Bearer realm="aidantsconnect"'),
        ({"Authorization": "Basic eDp5"}, 401, 'Bearer realm="aidantsconnect"'),
        ({"Authorization": "Bearer nope"}, 401, 'Bearer realm="aidantsconnect", error="invalid_token"'),
        ({"Authorization": "Bearer"}, 400, 'Bearer realm="aidantsconnect", error="invalid_request"'),
        ({"Authorization": "Bearer a b"}, 400, 'Bearer realm="aidantsconnect", error="invalid_request"'),
    ],
)
def test_userinfo_without_a_valid_bearer_token_gets_the_rfc_6750_challenge(stack, headers, status, challenge):
    r = requests.get(stack.url + "/oidc/userinfo", headers=headers, timeout=10)
    assert r.status_code == status, r.text
    assert r.headers["WWW-Authenticate"] == challenge or r.headers["WWW-Authenticate"].startswith(challenge + ",")
    assert r.json()["error"] in ("invalid_token", "invalid_request")


# -- no 500 anywhere ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/oidc/authorize", {}),
        ("GET", "/oidc/authorize?client_id=" + "x" * 5000, {}),
        ("GET", "/oidc/authorize?client_id=%00%ff&redirect_uri=javascript:alert(1)", {}),
        ("POST", "/oidc/token", {}),
        ("POST", "/oidc/token", {"json": {"grant_type": "authorization_code"}}),
        ("POST", "/oidc/token", {"data": {"grant_type": "password", "username": "a", "password": "b"}}),
        (
            "POST",
            "/oidc/token",
            {"data": {"grant_type": "authorization_code", "code": "x" * 500}, "auth": ("nobody", "x")},
        ),
        (
            "POST",
            "/oidc/token",
            {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        ),
        ("GET", "/oidc/token", {}),
        ("POST", "/oidc/userinfo", {"data": "a=b", "headers": {"Authorization": "Bearer x"}}),
        ("POST", "/api/fi/transactions/abc", {"data": "not json"}),
        ("GET", "/oidc/jwks", {}),
    ],
)
def test_bad_input_never_gets_a_500(stack, method, path, kwargs):
    r = requests.request(method, stack.url + path, allow_redirects=False, timeout=10, **kwargs)
    assert r.status_code < 500, (r.status_code, r.text)


def test_malformed_choices_never_get_a_500(world):
    pending = world.fc.authorize(world.browser)
    url = f"{world.stack.url}/api/fi/transactions/{pending.txn}"
    for body in (
        {},
        {"usager": 3, "demarche": []},
        {"usager": "x" * 500, "demarche": "papiers"},
        {"usager": world.usager_id, "demarche": "casino"},
    ):
        r = world.browser.post(url, json=body, timeout=10)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    r = world.browser.post(url, data="{", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400


@pytest.mark.parametrize(
    "params,error",
    [
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://evil.example/req.jwt"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_unsupported_request_parameters_are_refused_not_ignored(world, params, error):
    pending = world.fc.authorize(requests.Session(), **params)
    assert pending.response.status_code == 302
    back = query_of(pending.location)
    assert pending.location.startswith(world.fc.redirect_uri) and back["error"] == error
    assert back["state"] == pending.state


# -- issue 14: the transaction belongs to the browser FranceConnect sent -------------------------------


def _another_logged_in_browser(stack, world) -> requests.Session:
    """Another aidant of the same structure, logged in elsewhere, who learnt the txn id."""
    return stack.login(requests.Session(), stack.new_aidant(world.structure_id))


def test_a_transaction_is_refused_to_another_browser_and_stays_usable_by_its_own(world, stack):
    pending = world.authorize()
    other = _another_logged_in_browser(stack, world)
    url = f"{stack.url}/api/fi/transactions/{pending.txn}"
    for r in (
        other.get(url, timeout=10),
        other.post(url, json={"usager": world.usager_id, "demarche": "papiers"}, timeout=10),
    ):
        assert r.status_code == 403 and r.json()["error"] == "transaction_other_browser"
        assert "autre navigateur" in r.json()["error_description"]
    # The same aidant's session copied into another browser does not help either.
    thief = requests.Session()
    thief.cookies.set("ac_session", world.browser.cookies["ac_session"])
    assert thief.get(url, timeout=10).json()["error"] == "transaction_other_browser"
    # Nor a cookie of the right name with another value.
    thief.cookies.set(f"ac_fi_{pending.txn}", "x" * 43)
    assert thief.get(url, timeout=10).json()["error"] == "transaction_other_browser"
    assert "transaction_other_browser" in _journal_reasons(stack, world.aidant_id)
    # Its own browser still completes it.
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.userinfo(token["access_token"]).status_code == 200


def test_two_tabs_of_one_browser_each_complete_their_own_transaction(world):
    first = world.authorize()
    second = world.authorize()  # a second FranceConnect request, in another tab
    assert first.txn != second.txn
    for pending in (first, second):
        token = world.fc.fetch_token(pending, world.code_for(pending))
        assert world.fc.verify_id_token(token, pending.nonce)["sub"]


def test_the_browser_cookie_is_httponly_lax_short_lived_and_stored_only_as_a_keyed_hash(world, stack):
    pending = world.authorize()
    set_cookie = pending.response.headers["Set-Cookie"]
    name, value = set_cookie.split(";")[0].split("=", 1)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in set_cookie.split(";")[1:]}
    assert name == f"ac_fi_{pending.txn}" and len(value) >= 43
    assert {"httponly", "path", "samesite", "max-age"} <= set(attributes)
    assert attributes["path"] == "Path=/" and attributes["samesite"] == "SameSite=Lax"
    assert attributes["max-age"] == "Max-Age=600"
    stack.use_store()
    from shared import crypto
    from shared.store import AuthorizationTransaction as T

    txn = T.get(*T.key(pending.txn))
    assert value not in json.dumps(txn.attribute_values, default=str)
    assert txn.browser_hash == crypto.keyed_hash(value, "oidc-browser")


# -- issue 14: RFC-exact edges of the token and userinfo endpoints ---------------------------------------


def test_token_request_authenticating_the_client_twice_is_invalid_request(world):
    pending = world.authorize()
    code = code_of(world.code_for(pending))
    r = requests.post(
        world.fc.metadata["token_endpoint"],
        auth=(world.fc.client_id, world.fc.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": world.fc.redirect_uri,
            "code_verifier": pending.verifier,
            "client_secret": world.fc.client_secret,
        },
        timeout=10,
    )
    assert r.status_code == 400 and _oauth_error(r) == "invalid_request"  # RFC 6749 §2.3, §5.2
    # Refused before anything was checked: the code is still the client's.
    assert world.fc.token_request(code, verifier=pending.verifier).status_code == 200


def test_token_answers_are_never_cached(world):
    pending = world.authorize()
    code = code_of(world.code_for(pending))
    answers = [
        world.fc.token_request(code, verifier=pending.verifier),  # success
        world.fc.token_request(code, verifier=pending.verifier),  # replay: invalid_grant
        world.fc.token_request("x", secret="pas-le-secret"),  # invalid_client
        requests.post(world.fc.metadata["token_endpoint"], headers={"Authorization": "Basic %%%"}, timeout=10),
        requests.post(world.fc.metadata["token_endpoint"], json={"grant_type": "authorization_code"}, timeout=10),
    ]
    assert [r.status_code for r in answers][:3] == [200, 400, 401]
    for r in answers:
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"  # RFC 6749 §5.1


def test_userinfo_accepts_the_token_in_a_form_body_but_not_in_both_places(world):
    token = world.fc.fetch_token(pending := world.authorize(), world.code_for(pending))["access_token"]
    url = world.fc.metadata["userinfo_endpoint"]
    assert requests.post(url, data={"access_token": token}, timeout=10).json()["family_name"] == "DUBOIS"
    both = requests.post(url, data={"access_token": token}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"  # RFC 6750 §2
    assert both.headers["WWW-Authenticate"].startswith('Bearer realm="aidantsconnect", error="invalid_request"')
    twice = requests.post(url, data=[("access_token", token), ("access_token", token)], timeout=10)
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"


def test_unknown_token_in_a_form_body_is_invalid_token(stack):
    r = requests.post(stack.url + "/oidc/userinfo", data={"access_token": "inconnu"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="aidantsconnect", error="invalid_token"')


# -- issue 14: the order of the authorization request's checks is fixed ------------------------------------


@pytest.mark.parametrize(
    "drop, extra",
    [
        (("nonce",), {}),
        (("nonce", "state"), {}),
        (("response_type", "nonce"), {"prompt": "none", "code_challenge_method": "plain"}),
        ((), {"scope": "profile", "acr_values": "eidas3"}),
    ],
)
def test_a_request_object_is_refused_before_any_other_check(world, drop, extra):
    # Several times: the order once depended on the process (Authlib keeps hooks in a set).
    for _ in range(6):
        pending = world.fc.authorize(requests.Session(), drop=drop, request="eyJhbGciOiJub25lIn0.e30.", **extra)
        back = query_of(pending.location)
        assert back["error"] == "request_not_supported", back
        assert back.get("state") == pending.state and back["iss"] == world.stack.url


def test_prompt_none_with_an_aidant_logged_in_is_interaction_required(world):
    pending = world.authorize(prompt="none")
    back = query_of(pending.location)
    assert back["error"] == "interaction_required" and back["state"] == pending.state


def test_unknown_scopes_are_ignored_not_refused(world):
    pending = world.authorize(scope="openid family_name casier_judiciaire")
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert token["scope"].split() == ["openid", "family_name"]
    assert world.fc.userinfo(token["access_token"]).json()["family_name"] == "DUBOIS"


def test_authorization_by_post_is_answered_like_get(world):
    pending = world.authorize(method="POST")
    assert pending.response.status_code == 302 and "/fi/?txn=" in pending.location
    pending = world.authorize(method="POST", drop=("state",))
    assert query_of(pending.location)["error"] == "invalid_request"
    r = requests.post(
        world.fc.metadata["authorization_endpoint"],
        data="{}",
        timeout=10,
        headers={"Content-Type": "application/json"},
        allow_redirects=False,
    )
    assert r.status_code == 415
