"""Issue 14 (web), findings 3 to 5, over HTTP through the local gateway: what a
foreign page can make a browser do.

* every state-changing ``/api/`` request is same-origin JSON (the Router checks it
  once): a foreign page could end an aidant's session with a ``<form>``;
* a request carrying two session cookies is refused, not resolved last-wins;
* no page of ours, static or rendered by a function, may be framed."""

import pytest
import requests

from tests.integration.mandate_flow import new_aidant

FOREIGN = "https://evil.example"


@pytest.fixture
def logged_in(stack):
    return stack.login(requests.Session(), stack.new_aidant())


def still_logged_in(stack, session) -> bool:
    return session.get(stack.url + "/api/me", timeout=10).status_code == 200


# -- origin and content type ----------------------------------------------------------


def test_a_logout_from_a_foreign_page_is_refused_and_the_session_lives_on(stack, logged_in):
    r = logged_in.post(stack.url + "/api/logout", json={}, headers={"Origin": FOREIGN})
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    assert still_logged_in(stack, logged_in)
    # What a foreign <form> can send (no JSON content type), with or without Origin.
    for headers, data in (
        ({"Content-Type": "text/plain"}, "{}"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "a=b"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "--x--"),
        ({}, None),
    ):
        r = logged_in.post(stack.url + "/api/logout", data=data, headers=headers)
        assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type", headers
        assert still_logged_in(stack, logged_in)
    # Our own front-end: its origin, JSON declared, no body needed.
    r = logged_in.post(stack.url + "/api/logout", headers={"Origin": stack.url, "Content-Type": "application/json"})
    assert r.status_code == 200 and not still_logged_in(stack, logged_in)


def test_a_body_less_referent_action_must_be_declared_json(stack):
    sid = stack.new_structure("Structure de l'origine")
    referent = stack.login(requests.Session(), stack.new_aidant(sid, referent_of=[sid]))
    colleague = stack.new_aidant(sid, first_name="Colette")
    stack.use_store()
    from shared import accounts

    url = f"{stack.url}/api/referent/structures/{sid}/aidants/{accounts.find_aidant_by_email(colleague).id}"
    for headers in ({}, {"Content-Type": "text/plain"}):
        r = referent.post(url + "/deactivate", headers=headers)
        assert r.status_code == 415, (headers, r.text)
    assert accounts.find_aidant_by_email(colleague).is_active  # nothing happened
    r = referent.post(url + "/deactivate", headers={"Content-Type": "application/json", "Origin": FOREIGN})
    assert r.status_code == 403 and accounts.find_aidant_by_email(colleague).is_active
    r = referent.post(url + "/deactivate", headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and not accounts.find_aidant_by_email(colleague).is_active


def test_anonymous_state_changes_are_checked_too(stack):
    r = requests.post(
        stack.url + "/api/login", json={"email": "a@test.fr", "otp": "123456"}, headers={"Origin": FOREIGN}
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    r = requests.post(
        stack.url + "/api/habilitation/requests", data='{"siret": "1"}', headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_the_token_endpoint_keeps_taking_forms_from_franceconnect(stack):
    r = requests.post(
        stack.url + "/oidc/token",
        data={"grant_type": "authorization_code", "code": "x"},
        auth=("unknown-client", "secret"),
        headers={"Origin": FOREIGN},
    )
    assert r.status_code in (400, 401) and r.json()["error"] in ("invalid_client", "invalid_grant")


# -- duplicated session cookies ---------------------------------------------------------


def test_two_session_cookies_are_refused_not_resolved(stack, logged_in):
    token = logged_in.cookies["ac_session"]
    for header in (
        f"ac_session={token}; ac_session=planted",
        f"ac_session=planted; ac_session={token}",
        f"ac_session={token}; ac_session={token}",
    ):
        r = requests.get(stack.url + "/api/me", headers={"Cookie": header}, timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "duplicate_cookie", header
        assert "cookie" in r.json()["error_description"]
    lines = stack.log_events("otp_verify", "duplicate_cookie")
    assert lines and all(token not in str(line) for line in lines)  # the value is never logged
    assert requests.get(stack.url + "/api/me", headers={"Cookie": f"ac_session={token}"}).status_code == 200


# -- framing -------------------------------------------------------------------------------


def assert_unframeable(response, what):
    assert response.headers.get("X-Frame-Options") == "DENY", what
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), what


def test_the_printable_pages_cannot_be_framed(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers", "logement"], identity="pierre")
    printed = aidant.get(f"/api/mandates/{mandate_id}/print")
    assert printed.status_code == 200 and printed.headers["Content-Type"].startswith("text/html")
    assert_unframeable(printed, "mandate print")
    # Its print button is wired by a script the policy allows (no inline handler).
    assert 'src="/js/print.js"' in printed.text and "onclick" not in printed.text
    assert "script-src 'self'" in printed.headers["Content-Security-Policy"]
    assert requests.get(stack.url + "/js/print.js").status_code == 200
    assert aidant.revoke(mandate_id, "logement").status_code == 200
    attestation = aidant.get(f"/api/mandates/{mandate_id}/revocation/print")
    assert attestation.status_code == 200, attestation.text
    assert_unframeable(attestation, "revocation print")


def test_the_authorize_error_page_cannot_be_framed(stack):
    r = requests.get(
        stack.url + "/oidc/authorize",
        params={"client_id": "nobody", "response_type": "code"},
        headers={"Accept": "text/html"},
        allow_redirects=False,
    )
    assert 400 <= r.status_code < 500 and r.headers["Content-Type"].startswith("text/html")
    assert_unframeable(r, "authorize error page")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/connexion/",
        "/habilitation/suivi/",
        "/js/api.js",
        "/css/app.css",
        "/dsfr/dsfr.min.css",
        "/page-qui-n-existe-pas/",
        "/connexion",
    ],
)
def test_the_static_pages_cannot_be_framed(stack, path):
    r = requests.get(stack.url + path, allow_redirects=False)
    assert r.status_code in (200, 301, 404), path
    assert_unframeable(r, path)
