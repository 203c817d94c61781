"""Inputs that once reached a function as a 500 (found in review): each is now a
precise 4xx JSON answer."""

import base64

import pytest
import requests


@pytest.fixture(scope="module")
def aidant(stack):
    return stack.login(requests.Session(), stack.new_aidant())


def assert_4xx_json(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_description"]
    if code:
        assert body["error"] == code


def test_unhashable_structure_type_in_an_accreditation_request(stack):
    for value in ([], {}):
        r = requests.post(
            stack.url + "/api/habilitation/requests", json={"siret": "80204022000019", "structure_type": value}
        )
        assert_4xx_json(r, 400)


def test_unhashable_consent_method_in_a_draft(stack, aidant):
    r = aidant.post(
        stack.url + "/api/mandates/drafts",
        json={
            "demarches": ["papiers"],
            "duration": "long",
            "is_remote": True,
            "remote_consent": {"method": [], "reference": "SMS du 3 mars"},
        },
    )
    assert_4xx_json(r, 400, "invalid_remote_consent")


@pytest.mark.parametrize("path", ["/api/mandates", "/api/usagers"])
def test_a_deeply_nested_cursor(stack, aidant, path):
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    assert_4xx_json(aidant.get(stack.url + path, params={"cursor": cursor}), 400, "invalid_cursor")


def test_a_unicode_digit_as_limit(stack, aidant):
    assert_4xx_json(aidant.get(stack.url + "/api/mandates", params={"limit": "²"}), 400, "invalid_limit")


def test_undecodable_basic_credentials_at_the_token_endpoint(stack):
    r = requests.post(
        stack.url + "/oidc/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
    )
    assert_4xx_json(r, 401, "invalid_client")
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    r = requests.post(
        stack.url + "/oidc/token",
        data={"grant_type": "authorization_code"},
        headers={"Authorization": "Basic %%%not-base64"},
    )
    assert_4xx_json(r, 401, "invalid_client")
