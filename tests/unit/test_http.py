"""The python3-http adapter: parsing, limits and uniform JSON errors."""

import json
from types import SimpleNamespace

import pytest

from shared import errors
from shared.http import (
    Request,
    Response,
    Router,
    cookie_name,
    html_response,
    json_response,
    parse_cookie_header,
    redirect,
)


def event(method="POST", path="/x", body=b"", headers=None, query=None):
    return SimpleNamespace(method=method, path=path, body=body, headers=headers or {}, query=query or {})


def answer(router, **kwargs):
    out = router.dispatch(event(**kwargs))
    headers = dict(out["headers"])
    return out["statusCode"], json.loads(out["body"]) if out["body"] else None, headers


@pytest.fixture
def router():
    r = Router()

    @r.route("POST", "/x")
    def echo(request):
        return json_response({"got": request.json()})

    @r.route("GET", "/items/{item}")
    def item(request):
        return json_response({"item": request.params["item"]})

    @r.route("GET", "/boom")
    def boom(request):
        raise RuntimeError("bug")

    return r


def test_json_body_is_parsed(router):
    status, body, headers = answer(router, body=b'{"a": 1}', headers={"Content-Type": "application/json"})
    assert status == 200 and body == {"got": {"a": 1}}
    assert headers["Cache-Control"] == "no-store"
    assert "X-Store-Calls" not in headers and "Server-Timing" not in headers  # production default


def test_diagnostics_headers_only_when_asked(router, monkeypatch):
    from shared import config

    monkeypatch.setenv("EXPOSE_DIAGNOSTICS", "true")
    config.reset_caches()
    try:
        _, _, headers = answer(router, body=b"{}", headers={"Content-Type": "application/json"})
        assert headers["X-Store-Calls"] == "0" and headers["Server-Timing"].startswith("fn;dur=")
    finally:
        monkeypatch.delenv("EXPOSE_DIAGNOSTICS")
        config.reset_caches()


@pytest.mark.parametrize(
    "body,content_type,status,code",
    [
        (b'{"a": ', "application/json", 400, "invalid_request"),
        (b"[1, 2]", "application/json", 400, "invalid_request"),
        (b"\xff\xfe", "application/json", 400, "invalid_request"),
        (b'{"a": 1}', "text/plain", 415, "unsupported_media_type"),
        (b'{"a": 1}', None, 415, "unsupported_media_type"),
        (b'{"a": "' + b"x" * 70000 + b'"}', "application/json", 413, "payload_too_large"),
    ],
)
def test_bad_bodies_get_a_precise_4xx(router, body, content_type, status, code):
    headers = {"Content-Type": content_type} if content_type else {}
    got_status, got, _ = answer(router, body=body, headers=headers)
    assert (got_status, got["error"]) == (status, code)
    assert got["error_description"]


def test_unknown_path_and_wrong_method(router):
    assert answer(router, method="GET", path="/nope")[0] == 404
    assert answer(router, method="DELETE", path="/x")[0] == 405


def test_path_parameters_are_constrained(router):
    assert answer(router, method="GET", path="/items/abc-1")[1] == {"item": "abc-1"}
    assert answer(router, method="GET", path="/items/../etc")[0] == 404
    assert answer(router, method="GET", path="/items/" + "a" * 200)[0] == 404


def test_a_bug_is_a_500_json_without_details(router):
    status, body, _ = answer(router, method="GET", path="/boom")
    assert status == 500 and body["error"] == "server_error" and "bug" not in json.dumps(body)


def test_store_outage_is_a_503(router):
    import botocore.exceptions

    r = Router()

    @r.route("GET", "/db")
    def db(request):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    status, body, headers = answer(r, method="GET", path="/db")
    assert status == 503 and body["error"] == "temporarily_unavailable" and headers["Retry-After"]


def test_cookies_and_headers_are_case_insensitive():
    request = Request.from_event(event(headers={"COOKIE": "a=1; ac_session=tok", "content-TYPE": "application/json"}))
    assert request.cookie("ac_session") == "tok"
    assert request.content_type() == "application/json"
    assert Request.from_event(event(headers={"Cookie": "bad\x00cookie=;;"})).cookie("x") is None


def test_several_set_cookie_headers_survive(monkeypatch):
    response = Response().set_cookie("a", "1", max_age=10).set_cookie("b", "2", max_age=None)
    names = [k for k, _ in response.to_openfaas()["headers"]]
    assert names.count("Set-Cookie") == 2
    cookie = dict(response.to_openfaas()["headers"])["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.fixture
def production(monkeypatch):
    """Settings of an https deployment."""
    from shared import config

    monkeypatch.setenv("ISSUER", "https://aidantsconnect.example")
    monkeypatch.delenv("FRONTEND_URL", raising=False)
    config.reset_caches()
    yield
    monkeypatch.delenv("ISSUER")
    config.reset_caches()


def test_secure_host_prefixed_cookie_when_served_over_https(production):
    assert cookie_name("ac_session") == "__Host-ac_session"
    header = next(
        v for k, v in Response().set_cookie("ac_session", "1", max_age=1).to_openfaas()["headers"] if k == "Set-Cookie"
    )
    attributes = [part.strip() for part in header.split(";")]
    # What browsers require of a __Host- cookie: Secure, Path=/, no Domain.
    assert attributes[0] == "__Host-ac_session=1"
    assert "Secure" in attributes and "Path=/" in attributes
    assert not any(a.lower().startswith("domain") for a in attributes)
    # …and the plain cookie an earlier version set on this host is removed with it.
    set_cookies = [
        v for k, v in Response().set_cookie("ac_session", "1", max_age=1).to_openfaas()["headers"] if k == "Set-Cookie"
    ]
    assert len(set_cookies) == 2 and set_cookies[1].startswith("ac_session=;") and "Max-Age=0" in set_cookies[1]
    with pytest.raises(ValueError):
        Response().set_cookie("ac_session", "1", max_age=1, path="/api")


def test_plain_cookie_name_over_http(clean_environment):
    assert cookie_name("ac_session") == "ac_session"
    header = dict(Response().set_cookie("ac_session", "1", max_age=1).to_openfaas()["headers"])["Set-Cookie"]
    assert header.startswith("ac_session=1;") and "Secure" not in header


def test_cookie_header_parsing_keeps_every_value():
    assert parse_cookie_header('a=1; b="two" ;a=3;;junk; =x; c=') == {"a": ["1", "3"], "b": ["two"], "c": [""]}
    assert parse_cookie_header(None) == {} and parse_cookie_header("") == {}


def _with_cookie(header: str) -> Request:
    return Request.from_event(event(method="GET", headers={"Cookie": header}))


def test_a_repeated_cookie_is_refused_not_last_wins(clean_environment):
    assert _with_cookie("ac_session=a; other=1").cookie("ac_session") == "a"
    for header in ("ac_session=a; ac_session=b", "ac_session=a;other=1;ac_session=a"):
        with pytest.raises(errors.DuplicateCookie) as refused:
            _with_cookie(header).cookie("ac_session")
        assert refused.value.status == 401 and refused.value.body()["error"] == "duplicate_cookie"


def test_over_https_only_the_host_cookie_counts_and_a_planted_plain_one_is_refused(production):
    assert _with_cookie("__Host-ac_session=mine").cookie("ac_session") == "mine"
    assert _with_cookie("ac_session=planted").cookie("ac_session") is None  # never ours over https
    for header in (
        "__Host-ac_session=mine; ac_session=planted",
        "ac_session=planted; __Host-ac_session=mine",
        "__Host-ac_session=mine; __Host-ac_session=other",
    ):
        with pytest.raises(errors.DuplicateCookie) as refused:
            _with_cookie(header).cookie("ac_session")
        if "ac_session=planted" in header:  # this host's own plain cookie, if it is one, is removed
            assert refused.value.headers["Set-Cookie"].startswith("ac_session=; ")


@pytest.fixture
def api_router():
    r = Router()

    @r.route("POST", "/api/logout")
    def logout(request):
        return json_response({"ok": True})

    @r.route("GET", "/api/me")
    def me(request):
        return json_response({"ok": True})

    @r.route("POST", "/oidc/token")
    def token(request):
        return json_response({"form": request.form()})

    return r


def test_a_state_change_from_another_origin_is_refused(api_router, clean_environment):
    json_type = {"Content-Type": "application/json"}
    status, body, _ = answer(api_router, path="/api/logout", headers={**json_type, "Origin": "https://evil.example"})
    assert status == 403 and body["error"] == "cross_origin"
    status, body, _ = answer(api_router, path="/api/logout", headers={**json_type, "Origin": "null"})
    assert status == 403
    assert answer(api_router, path="/api/logout", headers={**json_type, "Origin": "http://127.0.0.1:8080"})[0] == 200
    assert answer(api_router, path="/api/logout", headers=json_type)[0] == 200  # no Origin: a non-browser client
    # Reading is not changing: a GET from anywhere goes on (the session decides).
    assert answer(api_router, method="GET", path="/api/me", headers={"Origin": "https://evil.example"})[0] == 200


def test_a_state_change_must_be_declared_json_even_without_a_body(api_router, clean_environment):
    for headers in (
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
    ):
        status, body, _ = answer(api_router, path="/api/logout", headers=headers)
        assert status == 415 and body["error"] == "unsupported_media_type", headers
    assert answer(api_router, path="/api/logout", headers={"Content-Type": "application/json; charset=utf-8"})[0] == 200


def test_the_token_endpoint_still_takes_a_form(api_router, clean_environment):
    status, body, _ = answer(
        api_router,
        path="/oidc/token",
        body=b"grant_type=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and body["form"] == {"grant_type": "x"}


def test_function_served_pages_cannot_be_framed():
    headers = dict(html_response("<p>page</p>").to_openfaas()["headers"])
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_redirect_refuses_header_injection():
    with pytest.raises(errors.BadRequest):
        redirect("/ok\r\nSet-Cookie: x=1")


def test_every_request_writes_one_access_line_with_the_route_template_not_the_path(router, caplog, monkeypatch):
    import logging

    from shared import config

    monkeypatch.setenv("FUNCTION_NAME", "mandate-read")
    config.reset_caches()
    with caplog.at_level(logging.INFO, logger="aidants_connect.request"):
        answer(router, method="GET", path="/items/usager-secret-id", headers={"X-Call-Id": "abc-123"})
        answer(router, method="GET", path="/nowhere", headers={"X-Call-Id": "not a valid id!"})
    first, second = (json.loads(r.getMessage()) for r in caplog.records)
    assert first == {
        "function": "mandate-read",
        "method": "GET",
        "route": "/items/{item}",
        "status": 200,
        "ms": first["ms"],
        "store_calls": 0,
        "call_id": "abc-123",
    }
    assert "usager-secret-id" not in caplog.text
    assert second["route"] is None and second["status"] == 404 and second["call_id"] is None
    config.reset_caches()


def test_an_unexpected_error_in_an_image_without_the_store_is_a_plain_500(monkeypatch):
    """oidc_metadata's image has no pynamodb: judging an unexpected error must not
    fail on importing the store (docs/performance.md, cold starts)."""
    import sys

    import shared

    monkeypatch.setitem(sys.modules, "shared.store", None)  # as if it could not be imported
    monkeypatch.delattr(shared, "store", raising=False)
    r = Router()

    @r.route("GET", "/boom")
    def boom(request):
        raise RuntimeError("a bug")

    status, body, _ = answer(r, method="GET", path="/boom")
    assert status == 500 and body["error"] == "server_error"


def test_a_request_starts_without_the_trainee_end_a_previous_one_set():
    """waitress reuses its threads: the sandbox's expiry set for one trainee's request
    must not give its end to what the next request on the thread writes."""
    from shared.store import base

    r = Router()

    @r.route("GET", "/end")
    def end(request):
        return json_response({"at": base._expiry.at})

    base.expiring.set(1_900_000_000)  # as shared.sessions does for a trainee
    status, body, _ = answer(r, method="GET", path="/end")
    assert status == 200 and body == {"at": None}
