"""The OpenID Foundation's conformance suite, Basic OP profile, module by module.

One test per module of the suite that applies to a provider of the authorization
code flow only, named ``test_oidcc_<module>``, driven over HTTP by Authlib's client
playing FranceConnect (``oidc_fc``). Where FranceConnect's profile is stricter than
OpenID Connect Core (``state`` and ``nonce`` required, ``acr`` ``eidas1``, no
successful ``prompt=none``: an aidant always picks the usager), the test asserts the
profile's answer and says why. Modules of other profiles (implicit, hybrid, dynamic
registration, refresh tokens) are absent, or assert what we answer instead.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import BadSignatureError

from .oidc_fc import code_of, make_world, query_of, register_client

PROFILE = ("given_name", "family_name", "birthdate", "gender")


@pytest.fixture(scope="module")
def world(stack):
    return make_world(stack)


def _flow(world, fc=None, **params):
    """authorize → the aidant's choice → token → ID token checked as a relying party does."""
    fc = fc or world.fc
    pending = world.authorize(fc, **params)
    token = fc.fetch_token(pending, world.code_for(pending))
    return pending, token, fc.verify_id_token(token, pending.nonce)


def _sent_back(world, pending, error: str, fc=None) -> dict:
    """An error redirected to the client (RFC 6749 §4.1.2.1), with iss (RFC 9207)."""
    fc = fc or world.fc
    assert pending.response.status_code == 302, pending.response.text
    assert pending.location.startswith(fc.redirect_uri + "?"), pending.location
    answer = query_of(pending.location)
    assert answer["error"] == error, answer
    assert answer["iss"] == world.stack.url
    return answer


def _shown(pending) -> None:
    """An error shown to the person, never redirected: the redirect URI is not trusted."""
    assert pending.response.status_code == 400 and "Location" not in pending.response.headers
    assert pending.response.json()["error"] == "invalid_request"


# -- the basic flow -------------------------------------------------------------------------


def test_oidcc_server(world):
    pending, token, claims = _flow(world)
    back = query_of(world.code_for(world.authorize()))
    assert set(back) == {"code", "state", "iss"} and back["iss"] == world.stack.url
    now = time.time()
    assert claims["iss"] == world.stack.url and claims["aud"] == world.fc.client_id
    assert claims["iat"] <= now + 5 and claims["exp"] > now and claims["nonce"] == pending.nonce
    assert claims["at_hash"] and claims["sub"]  # at_hash checked against the token by CodeIDToken
    info = world.fc.userinfo(token["access_token"])
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


def test_oidcc_response_type_missing(world):
    pending = world.fc.authorize(requests.Session(), drop=("response_type",))
    answer = _sent_back(world, pending, "invalid_request")
    assert answer["state"] == pending.state


def test_oidcc_ensure_redirect_uri_in_authorization_request(world):
    _shown(world.fc.authorize(requests.Session(), drop=("redirect_uri",)))


def test_oidcc_ensure_registered_redirect_uri(world):
    _shown(world.fc.authorize(requests.Session(), redirect_uri="https://evil.example/callback"))


def test_oidcc_ensure_post_request_succeeds(world):
    """OpenID Connect Core §3.1.2.1: the authorization endpoint MUST accept POST."""
    pending, token, claims = _flow(world, method="POST")
    assert pending.response.request.method == "POST"
    assert world.fc.userinfo(token["access_token"]).json()["sub"] == claims["sub"]


def test_oidcc_server_client_secret_post(world, stack):
    fc = register_client(stack, auth_method="client_secret_post")
    _pending, token, claims = _flow(world, fc)
    assert claims["aud"] == fc.client_id and fc.userinfo(token["access_token"]).status_code == 200


# -- userinfo ------------------------------------------------------------------------------------


def _userinfo(world, how):
    _pending, token, claims = _flow(world)
    answer = world.fc.userinfo(token["access_token"], how=how)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == claims["sub"] and answer.json()["family_name"] == "DUBOIS"


def test_oidcc_userinfo_get(world):
    _userinfo(world, "get")


def test_oidcc_userinfo_post_header(world):
    _userinfo(world, "post-header")


def test_oidcc_userinfo_post_body(world):
    """RFC 6750 §2.2: the token as ``access_token`` in a form-encoded body."""
    _userinfo(world, "post-body")


def test_oidcc_userinfo_rs256(world, stack):
    fc = register_client(stack, userinfo_signed_response_alg="RS256")
    _pending, token, claims = _flow(world, fc)
    answer = fc.userinfo(token["access_token"])
    assert answer.headers["Content-Type"].startswith("application/jwt")
    decoded = jwt.decode(answer.text, fc.jwks(), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    assert decoded.claims["sub"] == claims["sub"] and decoded.claims["iss"] == stack.url
    assert decoded.claims["aud"] == fc.client_id


# -- request parameters ----------------------------------------------------------------------------


def test_oidcc_ensure_request_without_nonce_fails(world):
    """FranceConnect's profile requires ``nonce`` (Core makes it optional in the code
    flow, where the suite's ``…-succeeds-for-code-flow`` would expect success): its
    absence goes back as invalid_request, with the state."""
    pending = world.authorize(drop=("nonce",))
    assert _sent_back(world, pending, "invalid_request")["state"] == pending.state


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(world):
    _pending, _token, claims = _flow(world, extra="foobar")
    assert claims["sub"]


def test_oidcc_display_page(world):
    assert _flow(world, display="page")[2]["sub"]


def test_oidcc_display_popup(world):
    assert _flow(world, display="popup")[2]["sub"]


def test_oidcc_ui_locales(world):
    assert _flow(world, ui_locales="fr-FR se")[2]["sub"]


def test_oidcc_claims_locales(world):
    assert _flow(world, claims_locales="fr-FR se")[2]["sub"]


def test_oidcc_login_hint(world):
    """Passed on to the page where the aidant logs in and chooses."""
    pending = world.authorize(login_hint="camille@example.fr")
    assert world.offer(pending.txn).json()["transaction"]["login_hint"] == "camille@example.fr"
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.verify_id_token(token, pending.nonce)["sub"]


def test_oidcc_ensure_request_with_acr_values_succeeds(world):
    """The suite sends two values; FranceConnect's are eIDAS levels, and ``eidas1``
    (the level we assert) among them is served, with ``acr=eidas1``."""
    assert _flow(world, acr_values="eidas1 eidas2")[2]["acr"] == "eidas1"


def test_oidcc_claims_essential(world):
    """``claims`` is not supported (discovery: ``claims_parameter_supported`` false):
    ignored, as Core §5.5 allows; the scopes decide."""
    request = json.dumps({"userinfo": {"name": {"essential": True}}})
    pending, token, claims = _flow(world, claims=request)
    assert "name" not in claims and world.fc.userinfo(token["access_token"]).status_code == 200
    assert world.fc.metadata["claims_parameter_supported"] is False


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(world):
    """Request objects are not supported: refused first, as ``request_not_supported``
    (Core §6.1), whatever else is missing: here the nonce and the state are only
    inside the object, so the error comes back without a state."""
    request_object = _unsigned_jwt(
        {"client_id": world.fc.client_id, "response_type": "code", "state": "dans-l-objet", "nonce": "dans-l-objet"}
    )
    pending = world.authorize(request=request_object, drop=("state", "nonce"))
    assert "state" not in _sent_back(world, pending, "request_not_supported")
    # With a state in the query, it comes back.
    pending = world.authorize(request=request_object)
    assert _sent_back(world, pending, "request_not_supported")["state"] == pending.state
    assert world.fc.metadata["request_parameter_supported"] is False


def _unsigned_jwt(claims: dict) -> str:
    """An unsigned request object (``alg`` ``none``, RFC 7519 §6)."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(world):
    pending = world.authorize(request_uri="https://rp.example/request.jwt", drop=("nonce",))
    assert _sent_back(world, pending, "request_uri_not_supported")["state"] == pending.state
    assert world.fc.metadata["request_uri_parameter_supported"] is False


# -- scopes --------------------------------------------------------------------------------------------


def _claims_seen(world, scope: str) -> tuple[dict, dict]:
    _pending, token, claims = _flow(world, scope=scope)
    return dict(claims), world.fc.userinfo(token["access_token"]).json()


def test_oidcc_scope_profile(world):
    for seen in _claims_seen(world, "openid profile"):
        assert all(seen[c] for c in PROFILE) and "email" not in seen


def test_oidcc_scope_email(world):
    for seen in _claims_seen(world, "openid email"):
        assert seen["email"] == "angela.dubois@example.fr" and "family_name" not in seen


def test_oidcc_scope_address(world):
    """No address is held: the scope is unknown here and ignored (Core §5.4), not refused."""
    for seen in _claims_seen(world, "openid address"):
        assert "address" not in seen and set(seen) & set(PROFILE) == set()


def test_oidcc_scope_phone(world):
    """No phone number is held: ignored like ``address``."""
    for seen in _claims_seen(world, "openid phone"):
        assert "phone_number" not in seen and seen["sub"]


def test_oidcc_scope_all(world):
    for seen in _claims_seen(world, "openid profile email address phone"):
        assert all(seen[c] for c in PROFILE) and seen["email"]
        assert "address" not in seen and "phone_number" not in seen


def test_oidcc_ensure_other_scope_order_succeeds(world):
    for seen in _claims_seen(world, "email openid"):
        assert seen["email"] and seen["sub"]


# -- prompt, max_age, id_token_hint --------------------------------------------------------------------


def test_oidcc_prompt_none_not_logged_in(world):
    pending = world.fc.authorize(requests.Session(), prompt="none")
    assert _sent_back(world, pending, "login_required")["state"] == pending.state


def test_oidcc_prompt_none_logged_in(world):
    """FranceConnect's profile: never a silent success, the aidant must pick the usager
    and the démarche (Core §3.1.2.6: ``interaction_required``). The aidant's session is
    seen, so it is not ``login_required``."""
    pending = world.authorize(prompt="none")
    assert _sent_back(world, pending, "interaction_required")["state"] == pending.state


def test_oidcc_prompt_login(world):
    """A second request with ``prompt=login`` needs a login newer than itself: the
    choice is refused until the aidant logs in again, and auth_time then moves on."""
    first = _flow(world)[2]["auth_time"]
    time.sleep(1.1)
    pending = world.authorize(prompt="login")
    refused = world.choose(pending.txn)
    assert refused.status_code == 401 and refused.json()["error"] == "login_required"
    world.login_again()
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.verify_id_token(token, pending.nonce)["auth_time"] > first


def test_oidcc_max_age_1(world):
    """auth_time is in whole seconds (Core §2): a login is "more than one second old"
    when at least two whole seconds separate it from the request."""
    time.sleep(2.1)
    requested_at = int(time.time())
    pending = world.authorize(max_age="1")
    refused = world.choose(pending.txn)
    assert refused.status_code == 401 and refused.json()["error"] == "login_required"
    world.login_again()
    token = world.fc.fetch_token(pending, world.code_for(pending))
    assert world.fc.verify_id_token(token, pending.nonce)["auth_time"] >= requested_at - 1


def test_oidcc_max_age_10000(world):
    claims = _flow(world, max_age="10000")[2]
    assert time.time() - 10000 <= claims["auth_time"] <= time.time() + 1


def test_oidcc_id_token_hint(world):
    """The suite sends the previous ID token with ``prompt=none``: in FranceConnect's
    profile that is ``interaction_required`` (see prompt-none-logged-in). Without
    ``prompt=none`` the hint is accepted and the same usager's sub is issued."""
    first_token, first = _flow(world)[1:]
    pending = world.authorize(prompt="none", id_token_hint=first_token["id_token"])
    _sent_back(world, pending, "interaction_required")
    assert _flow(world, id_token_hint=first_token["id_token"])[2]["sub"] == first["sub"]


# -- codes -----------------------------------------------------------------------------------------------


def test_oidcc_codereuse(world):
    pending = world.authorize()
    redirect_to = world.code_for(pending)
    token = world.fc.fetch_token(pending, redirect_to)
    replay = world.fc.token_request(code_of(redirect_to), verifier=pending.verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert world.fc.userinfo(token["access_token"]).status_code == 401  # revoked (RFC 6749 §4.1.2)


def test_oidcc_codereuse_30seconds(world, stack):
    """The suite waits 30 s before the reuse; the clock is moved instead: the code's
    first use and its end are set 30 s earlier (it has 30 s of its minute left)."""
    pending = world.authorize()
    redirect_to = world.code_for(pending)
    token = world.fc.fetch_token(pending, redirect_to)
    stack.use_store()
    from shared import crypto
    from shared.store import AuthorizationCode as C

    item = C.get(*C.key(crypto.keyed_hash(code_of(redirect_to), "oidc-code")))
    item.update(actions=[C.used_at.set(item.used_at - 30), C.expires_at.set(item.expires_at - 30)])
    replay = world.fc.token_request(code_of(redirect_to), verifier=pending.verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert world.fc.userinfo(token["access_token"]).status_code == 401


def test_oidcc_refresh_token(world):
    """Refresh tokens are not supported: none is issued, the grant is refused, and
    discovery does not list it."""
    _pending, token, _claims = _flow(world)
    assert "refresh_token" not in token
    r = requests.post(
        world.fc.metadata["token_endpoint"],
        auth=(world.fc.client_id, world.fc.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": token["access_token"]},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    assert "refresh_token" not in world.fc.metadata["grant_types_supported"]


# -- discovery and ID tokens ----------------------------------------------------------------------------


def test_oidcc_discovery_endpoint_verification(world, stack):
    metadata = requests.get(stack.url + "/.well-known/openid-configuration", timeout=10).json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == stack.url
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert metadata[endpoint].startswith(stack.url + "/")
    assert metadata["response_types_supported"] == ["code"]
    assert "openid" in metadata["scopes_supported"] and "sub" in metadata["claims_supported"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"client_secret_basic", "client_secret_post"} <= set(metadata["token_endpoint_auth_methods_supported"])


def test_oidcc_idtoken_signature(world):
    """Signed with the published key its ``kid`` names, and only that key verifies it."""
    _pending, token, claims = _flow(world)
    keys = world.fc.jwks()
    kid = claims.header["kid"]
    key = keys.get_by_kid(kid)
    alg = claims.header["alg"]
    assert jwt.decode(token["id_token"], key, algorithms=[alg]).claims["sub"] == claims["sub"]
    header, payload, signature = token["id_token"].split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, key, algorithms=[alg])


def test_oidcc_idtoken_rs256(world, stack):
    fc = register_client(stack, id_token_signed_response_alg="RS256")
    _pending, _token, claims = _flow(world, fc)
    assert claims.header["alg"] == "RS256" and claims.header["kid"]


def test_oidcc_idtoken_kid(world):
    """Every published key has a distinct kid, and the ID token names one of them."""
    kids = [k["kid"] for k in requests.get(world.fc.metadata["jwks_uri"], timeout=10).json()["keys"]]
    assert len(kids) == len(set(kids))
    assert _flow(world)[2].header["kid"] in kids
