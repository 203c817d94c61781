"""otp_verify's handler called directly with a plain event, as OpenFaaS does."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pyotp
import pytest

from shared import accounts, config

ROOT = Path(__file__).resolve().parents[2]


def load_handler():
    spec = importlib.util.spec_from_file_location("otp_verify_handler", ROOT / "functions/otp_verify/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(handler, method, path, body=None, headers=None):
    event = SimpleNamespace(
        method=method,
        path=path,
        query={},
        body=json.dumps(body).encode() if body is not None else b"",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    out = handler.handle(event, SimpleNamespace(hostname="test"))
    return out["statusCode"], dict(out["headers"]), json.loads(out["body"]) if out["body"] else None


@pytest.fixture
def direct_login(moto_store, monkeypatch):
    monkeypatch.setenv("LOGIN_LINK_ENABLED", "false")
    config.reset_caches()
    accounts.new_structure("S", "1" * 14, "adresse", structure_id="s1").save()
    _, secret = accounts.create_aidant("ana@b.fr", "Ana", "B", ["s1"])
    return load_handler(), pyotp.TOTP(secret)


def test_without_the_link_step_a_valid_code_opens_the_session(direct_login):
    handler, totp = direct_login
    status, headers, body = call(handler, "POST", "/api/login", {"email": "ANA@b.fr ", "otp": totp.now()})
    assert status == 200 and body == {"link_sent": False, "session_opened": True}
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _, me = call(handler, "GET", "/api/me", headers={"Cookie": cookie})
    assert status == 200 and me["aidant"]["first_name"] == "Ana" and me["structure"]["id"] == "s1"


def test_the_totp_seed_never_appears_in_an_answer(direct_login):
    handler, totp = direct_login
    _, headers, _ = call(handler, "POST", "/api/login", {"email": "ana@b.fr", "otp": totp.now()})
    _, _, me = call(handler, "GET", "/api/me", headers={"Cookie": headers["Set-Cookie"].split(";")[0]})
    assert totp.secret not in json.dumps(me)


def test_unknown_route_is_a_json_404(direct_login):
    handler, _ = direct_login
    status, _, body = call(handler, "GET", "/api/nothing")
    assert status == 404 and body["error"] == "not_found"
