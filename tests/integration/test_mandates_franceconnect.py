"""Identifying the usager through FranceConnect (the local stand-in), and every
way that login can go wrong."""

import re
import time
from html import unescape
from urllib.parse import urlencode, urlsplit

import requests

from tests.integration.mandate_flow import landing, new_aidant, query_of


def _draft_page_error(stack, draft_id, location):
    page, draft, error = landing(location)
    assert page == "/mandats/nouveau/" and draft == draft_id, location
    return error


def test_discovery_and_keys_are_published(stack):
    meta = requests.get(stack.url + "/franceconnect/.well-known/openid-configuration").json()
    assert meta["issuer"] == stack.url + "/franceconnect"
    assert "eidas1" in meta["acr_values_supported"]
    keys = requests.get(meta["jwks_uri"]).json()["keys"]
    assert keys and all(k["kid"] for k in keys)


def test_identity_page_lists_test_identities_and_logs_in(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    page = aidant.session.get(draft["franceconnect_url"])
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    text = unescape(page.text)
    assert "Angela Claire Louise DUBOIS" in text and "Pierre MERCIER" in text
    assert "Annuler" in text
    action = re.search(r"action='([^']+)'", page.text).group(1)
    r = aidant.session.post(stack.url + action, data={"identity": "angela"}, allow_redirects=False)
    assert r.status_code == 302
    location = aidant.follow_callback(r.headers["Location"])
    assert urlsplit(location).path == "/mandats/recapitulatif/"
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["usager"]["given_name"] == "Angela Claire Louise"
    assert recap["usager"]["birthdate"] == "1962-08-24" and recap["usager"]["birthplace"] == "75107"


def test_the_usagers_franceconnect_session_is_ended_before_the_next_usager(stack):
    """FranceConnect logs a known browser in again without asking. The aidant's
    browser must not stay logged in as the usager just identified: the next usager
    at the desk would be identified as that one."""
    aidant = new_aidant(stack)
    first = aidant.new_draft(["papiers"])
    r = aidant.session.get(first["franceconnect_url"] + "&login_hint=angela", allow_redirects=False)
    assert r.status_code == 302 and aidant.session.cookies.get("fc_sid")
    # The stand-in does keep the session: without a logout, a new login is silent.
    sso = aidant.session.get(aidant.new_draft(["papiers"])["franceconnect_url"], allow_redirects=False)
    assert sso.status_code == 302 and "code=" in sso.headers["Location"]

    callback = aidant.session.get(r.headers["Location"], allow_redirects=False)
    logout = callback.headers["Location"]
    assert urlsplit(logout).path == "/franceconnect/session/end"
    params = query_of(logout)
    assert params["state"] == first["draft"] and params["id_token_hint"].count(".") == 2
    assert params["post_logout_redirect_uri"] == stack.url + "/mandats/recapitulatif/"
    back = aidant.session.get(logout, allow_redirects=False)
    assert (
        back.status_code == 302
        and back.headers["Location"] == f"{stack.url}/mandats/recapitulatif/?state={first['draft']}"
    )
    assert not aidant.session.cookies.get("fc_sid")

    # The next usager gets FranceConnect's page, not the previous usager's identity.
    page = aidant.session.get(aidant.new_draft(["social"])["franceconnect_url"], allow_redirects=False)
    assert page.status_code == 200 and "Je choisis un compte" in unescape(page.text)
    # And the draft identified first is still the one shown.
    assert aidant.get(f"/api/mandates/drafts/{first['draft']}").json()["usager"]["given_name"] == "Angela Claire Louise"


def test_franceconnect_refuses_a_logout_redirect_without_our_id_token(stack):
    base = stack.url + "/franceconnect/session/end?"
    target = stack.url + "/mandats/recapitulatif/"
    for query in (
        {"post_logout_redirect_uri": target, "id_token_hint": "x.y.z"},
        {"post_logout_redirect_uri": "https://evil.example/", "id_token_hint": "x.y.z"},
    ):
        r = requests.get(base + urlencode(query), allow_redirects=False)
        assert r.status_code == 400 and "Location" not in r.headers


def test_cancel_brings_the_aidant_back_to_the_draft(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    page = aidant.session.get(draft["franceconnect_url"])
    cancel = re.search(r'href="([^"]+/cancel)"', page.text).group(1)
    r = aidant.session.get(stack.url + cancel, allow_redirects=False)
    assert r.status_code == 302
    assert query_of(r.headers["Location"])["error"] == "access_denied"
    location = aidant.follow_callback(r.headers["Location"])
    assert _draft_page_error(stack, draft["draft"], location) == "franceconnect_cancelled"
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["status"] == "awaiting_identification" and recap["usager"] is None


def test_franceconnect_error_brings_the_aidant_back_to_the_draft(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    state = query_of(draft["franceconnect_url"])["state"]
    r = aidant.get(
        "/fc/callback",
        params={"error": "server_error", "error_description": "panne", "state": state},
        allow_redirects=False,
    )
    assert r.status_code == 302
    assert _draft_page_error(stack, draft["draft"], r.headers["Location"]) == "franceconnect_error"


def test_code_refused_by_franceconnect_is_an_error(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    state = query_of(draft["franceconnect_url"])["state"]
    r = aidant.get("/fc/callback", params={"code": "forged-code", "state": state}, allow_redirects=False)
    assert _draft_page_error(stack, draft["draft"], r.headers["Location"]) == "franceconnect_error"
    assert aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["usager"] is None


def test_nonce_mismatch_is_refused(stack):
    """An ID token that was not issued for the login we started (its nonce is not the
    one we sent) never identifies a usager."""
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    state = query_of(draft["franceconnect_url"])["state"]
    stack.use_store()
    from shared import crypto
    from shared.store import FranceConnectState

    FranceConnectState(*FranceConnectState.key(crypto.keyed_hash(state, "fc_state"))).update(
        actions=[FranceConnectState.nonce_hash.set(crypto.keyed_hash("another-login", "fc_nonce"))]
    )
    location = aidant.identify(draft["franceconnect_url"])
    assert _draft_page_error(stack, draft["draft"], location) == "franceconnect_error"
    assert aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["usager"] is None


def test_callback_is_used_once(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    r = aidant.session.get(draft["franceconnect_url"] + "&login_hint=angela", allow_redirects=False)
    callback = r.headers["Location"]
    assert urlsplit(aidant.follow_callback(callback)).path == "/mandats/recapitulatif/"
    assert _draft_page_error(stack, draft["draft"], aidant.follow_callback(callback)) == "franceconnect_expired"


def test_expired_login_is_refused(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    state = query_of(draft["franceconnect_url"])["state"]
    stack.use_store()
    from shared import crypto
    from shared.store import FranceConnectState

    FranceConnectState(*FranceConnectState.key(crypto.keyed_hash(state, "fc_state"))).update(
        actions=[FranceConnectState.expires_at.set(int(time.time()) - 1)]
    )
    location = aidant.identify(draft["franceconnect_url"])
    assert _draft_page_error(stack, draft["draft"], location) == "franceconnect_expired"


def test_unknown_state_is_refused(stack):
    aidant = new_aidant(stack)
    for params in ({"code": "x", "state": "never-issued"}, {"code": "x"}, {}):
        r = aidant.get("/fc/callback", params=params, allow_redirects=False)
        assert r.status_code == 302
        assert urlsplit(r.headers["Location"]).path == "/mandats/nouveau/"
        assert query_of(r.headers["Location"]) == {"error": "franceconnect_error"}


def test_callback_only_completes_in_the_browser_of_the_aidant_who_started_it(stack):
    """Login CSRF: another aidant's browser (or no session) cannot attach a usager to
    the draft, even with a valid code and state."""
    aidant = new_aidant(stack)
    intruder = new_aidant(stack, aidant.structure_id)
    draft = aidant.new_draft(["papiers"])
    r = aidant.session.get(draft["franceconnect_url"] + "&login_hint=pierre", allow_redirects=False)
    callback = r.headers["Location"]
    r = intruder.session.get(callback, allow_redirects=False)
    assert query_of(r.headers["Location"]).get("error") == "franceconnect_error"
    r = requests.get(callback, allow_redirects=False)
    assert query_of(r.headers["Location"]).get("error") == "session_expired"
    assert aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["usager"] is None
    # The state was not spent by those attempts: the right browser completes it.
    assert urlsplit(aidant.follow_callback(callback)).path == "/mandats/recapitulatif/"


def test_same_person_is_one_usager_across_logins(stack):
    first, second = new_aidant(stack), new_aidant(stack)
    ids = []
    for aidant in (first, second):
        draft = aidant.new_draft(["papiers"])
        aidant.identify(draft["franceconnect_url"], "eloise")
        ids.append(aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["usager"]["id"])
    assert ids[0] == ids[1]


def test_stand_in_refuses_what_franceconnect_refuses(stack):
    base = stack.url + "/franceconnect/authorize"
    good = {
        "response_type": "code",
        "client_id": "aidants-connect-local",
        "scope": "openid given_name",
        "redirect_uri": stack.url + "/fc/callback",
        "state": "s" * 32,
        "nonce": "n" * 32,
        "acr_values": "eidas1",
        "login_hint": "angela",
    }
    assert requests.get(base, params=good, allow_redirects=False).status_code == 302
    assert requests.get(base, params=dict(good, client_id="evil"), allow_redirects=False).status_code == 400
    assert (
        requests.get(base, params=dict(good, redirect_uri="https://evil.example/cb"), allow_redirects=False).status_code
        == 400
    )
    r = requests.get(base, params={k: v for k, v in good.items() if k != "nonce"}, allow_redirects=False)
    assert query_of(r.headers["Location"])["error"] == "invalid_request"
    r = requests.get(base, params=dict(good, scope="profile"), allow_redirects=False)
    assert query_of(r.headers["Location"])["error"] == "invalid_scope"
    r = requests.post(
        stack.url + "/franceconnect/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": "aidants-connect-local",
            "client_secret": "wrong",
            "redirect_uri": good["redirect_uri"],
        },
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
