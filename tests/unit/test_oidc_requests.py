"""Reading and checking what reaches the identity provider (issue 14): the order of
the authorization request's checks, RFC 6750's ways of sending a token, and the
refusals of anonymous requests, which are logged and never stored."""

import json
import logging

import pytest
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.core.errors import (
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)

from shared.http import Headers, Request
from shared.oidc import authorize, events, grants, userinfo

VALID = {
    "response_type": "code",
    "client_id": "fc",
    "redirect_uri": "https://fc.example/cb",
    "scope": "openid",
    "state": "st",
    "nonce": "no",
    "acr_values": "eidas1",
}


def _check(data, logged_in=False):
    authorize.check_after_redirect(data, "https://fc.example/cb", lambda: logged_in)


@pytest.mark.parametrize("dropped", [(), ("nonce",), ("state",), ("nonce", "state", "response_type", "scope")])
def test_a_request_object_is_refused_before_anything_else_is_checked(dropped):
    data = {k: v for k, v in VALID.items() if k not in dropped}
    with pytest.raises(RequestNotSupportedError) as raised:
        _check({**data, "request": "x.y.", "prompt": "none"})
    assert raised.value.redirect_uri == "https://fc.example/cb" and raised.value.state == data.get("state")
    with pytest.raises(RequestURINotSupportedError):
        _check({**data, "request_uri": "https://rp.example/r"})


def test_prompt_none_is_login_required_without_a_session_and_interaction_required_with_one():
    asked = []
    with pytest.raises(LoginRequiredError):
        _check({**VALID, "prompt": "none"}, logged_in=False)
    with pytest.raises(InteractionRequiredError):
        authorize.check_after_redirect(
            {**VALID, "prompt": "none"}, "https://fc.example/cb", lambda: asked.append(1) or True
        )
    with pytest.raises(InvalidRequestError):
        _check({**VALID, "prompt": "none login"})
    # The session is only looked at for prompt=none, and only once the rest is valid.
    _check({**VALID, "prompt": "login"})
    with pytest.raises(InvalidRequestError):
        authorize.check_after_redirect(
            {**VALID, "prompt": "none", "nonce": ""}, "https://fc.example/cb", lambda: asked.append(1) or True
        )
    assert asked == [1]


def test_hooks_run_in_the_order_they_were_registered():
    hooks = grants.ordered_hooks()
    seen = []
    functions = [lambda i=i: seen.append(i) for i in range(50)]
    for f in functions:
        hooks["point"].add(f)
    hooks["point"].add(functions[0])  # a set: registered once
    for hook in hooks["point"]:
        hook()
    assert seen == list(range(50))


def _request(method="GET", headers=None, body=b""):
    return Request(method=method, path="/oidc/userinfo", headers=Headers(headers or {}), query={}, body=body)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "request_, token",
    [
        (_request(headers={"Authorization": "Bearer abc.DEF-_~+/=="}), "abc.DEF-_~+/=="),
        (_request(headers={"Authorization": "bearer   abc  "}), "abc"),
        (_request("POST", FORM, b"access_token=abc"), "abc"),
        (
            _request(
                "POST", {"Authorization": "Bearer abc", "Content-Type": "application/json"}, b'{"access_token": "x"}'
            ),
            "abc",
        ),
    ],
)
def test_the_access_token_is_read_from_the_header_or_a_form_body(request_, token):
    assert userinfo.access_token(request_) == token


@pytest.mark.parametrize(
    "request_, status, error",
    [
        (_request(), 401, None),
        (_request(headers={"Authorization": "Basic eDp5"}), 401, None),
        (_request("GET", FORM, b"access_token=abc"), 401, None),  # §2.2: not with GET
        (_request(headers={"Authorization": "Bearer"}), 400, "invalid_request"),
        (_request(headers={"Authorization": "Bearer a b"}), 400, "invalid_request"),
        (_request("POST", {**FORM, "Authorization": "Bearer abc"}, b"access_token=abc"), 400, "invalid_request"),
        (_request("POST", FORM, b"access_token=a&access_token=b"), 400, "invalid_request"),
        (_request("POST", FORM, b"access_token="), 400, "invalid_request"),
        (_request("POST", FORM, b"access_token=\xff"), 400, "invalid_request"),
    ],
)
def test_a_missing_or_ambiguous_token_gets_rfc_6750_s_answer(request_, status, error):
    with pytest.raises(userinfo.BearerError) as raised:
        userinfo.access_token(request_)
    response = raised.value.response()
    assert response.status == status
    challenge = dict(response.headers)["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="aidantsconnect"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)


def test_an_anonymous_refusal_is_one_bounded_json_log_line_and_nothing_stored(moto_store, caplog):
    from shared.store import Item

    with caplog.at_level(logging.INFO, logger="aidants_connect.anonymous"):
        events.refused_anonymous(
            "/oidc/token", "invalid_client", description="bad\nsecret?", client_id="c" * 1000 + "\n"
        )
    (record,) = caplog.records
    assert "\n" not in record.getMessage()
    line = json.loads(record.getMessage())
    assert line == {
        "event": "oidc_refused",
        "endpoint": "/oidc/token",
        "error": "invalid_client",
        "client_id": "c" * 128,
        "reason": "bad\nsecret?",
    }
    assert list(Item.scan()) == []
