"""The python3-http adapter: parsing, limits and uniform JSON errors."""
import json
from types import SimpleNamespace

import pytest

from shared import errors
from shared.http import Request, Response, Router, json_response, redirect


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


@pytest.mark.parametrize("body,content_type,status,code", [
    (b'{"a": ', "application/json", 400, "invalid_request"),
    (b"[1, 2]", "application/json", 400, "invalid_request"),
    (b"\xff\xfe", "application/json", 400, "invalid_request"),
    (b'{"a": 1}', "text/plain", 415, "unsupported_media_type"),
    (b'{"a": 1}', None, 415, "unsupported_media_type"),
    (b'{"a": "' + b"x" * 70000 + b'"}', "application/json", 413, "payload_too_large"),
])
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


def test_secure_cookie_when_served_over_https(monkeypatch):
    from shared import config
    monkeypatch.setenv("ISSUER", "https://aidantsconnect.example")
    config.reset_caches()
    try:
        header = dict(Response().set_cookie("a", "1", max_age=1).to_openfaas()["headers"])["Set-Cookie"]
        assert "Secure" in header
    finally:
        monkeypatch.delenv("ISSUER")
        config.reset_caches()


def test_redirect_refuses_header_injection():
    with pytest.raises(errors.BadRequest):
        redirect("/ok\r\nSet-Cookie: x=1")
