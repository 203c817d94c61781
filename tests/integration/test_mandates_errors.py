"""Every malformed request to the mandate functions is a 4xx JSON error, never a 500."""

import pytest
import requests

from tests.integration.mandate_flow import new_aidant

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def aidant(stack):
    return new_aidant(stack)


@pytest.fixture(scope="module")
def identified_draft(aidant):
    draft = aidant.new_draft(["papiers"])
    aidant.identify(draft["franceconnect_url"])
    return draft["draft"]


def _assert_json_4xx(r, status=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status:
        assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["error"], str) and isinstance(body["error_description"], str)
    return body


RAW_BODIES = [b"", b"not json", b"[]", b"null", b'"text"', b"{", b"\xff\xfe", b'{"demarches": ' + b"[" * 5000]


@pytest.mark.parametrize("path", ["/api/mandates/drafts", "/api/mandates", "/api/mandates/x/revoke"])
@pytest.mark.parametrize("raw", RAW_BODIES)
def test_unparseable_bodies(aidant, path, raw):
    _assert_json_4xx(aidant.session.post(aidant.url + path, data=raw, headers=JSON))


@pytest.mark.parametrize("path", ["/api/mandates/drafts", "/api/mandates"])
def test_wrong_content_type(aidant, path):
    r = aidant.session.post(
        aidant.url + path, data="demarches=papiers", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _assert_json_4xx(r, 415)


def test_oversized_body(aidant):
    r = aidant.post(
        "/api/mandates/drafts",
        {"demarches": ["papiers"], "duration": "long", "remote_consent": {"reference": "x" * 200_000}},
    )
    _assert_json_4xx(r, 413)


DRAFT_BODIES = [
    {},
    {"demarches": "papiers", "duration": "long"},
    {"demarches": [], "duration": "long"},
    {"demarches": ["casino"], "duration": "long"},
    {"demarches": [1, 2], "duration": "long"},
    {"demarches": [["papiers"]], "duration": "long"},
    {"demarches": [None], "duration": "long"},
    {"demarches": ["papiers"] * 11, "duration": "long"},
    {"demarches": ["papiers"]},
    {"demarches": ["papiers"], "duration": "forever"},
    {"demarches": ["papiers"], "duration": 365},
    {"demarches": ["papiers"], "duration": ["long"]},
    {"demarches": ["papiers"], "duration": "long", "is_remote": "yes"},
    {"demarches": ["papiers"], "duration": "long", "is_remote": 1},
    {"demarches": ["papiers"], "duration": "long", "is_remote": True},
    {"demarches": ["papiers"], "duration": "long", "is_remote": True, "remote_consent": "sms"},
    {
        "demarches": ["papiers"],
        "duration": "long",
        "is_remote": True,
        "remote_consent": {"method": "pigeon", "reference": "x"},
    },
    {"demarches": ["papiers"], "duration": "long", "is_remote": True, "remote_consent": {"method": "sms"}},
    {
        "demarches": ["papiers"],
        "duration": "long",
        "is_remote": True,
        "remote_consent": {"method": "sms", "reference": "   "},
    },
    {
        "demarches": ["papiers"],
        "duration": "long",
        "is_remote": True,
        "remote_consent": {"method": "sms", "reference": 42},
    },
    {
        "demarches": ["papiers"],
        "duration": "long",
        "is_remote": True,
        "remote_consent": {"method": "sms", "reference": "x" * 501},
    },
    {"demarches": {"papiers": True}, "duration": "long"},
]


@pytest.mark.parametrize("body", DRAFT_BODIES)
def test_malformed_drafts(aidant, body):
    _assert_json_4xx(aidant.post("/api/mandates/drafts", body), 400)


def test_sign_bodies(aidant, identified_draft):
    bodies = [
        {},
        {"draft": None, "otp": "123456", "usager_informed": True},
        {"draft": 12, "otp": "123456", "usager_informed": True},
        {"draft": ["x"], "otp": "123456", "usager_informed": True},
        {"draft": "x" * 500, "otp": "123456", "usager_informed": True},
        {"draft": identified_draft},
        {"draft": identified_draft, "otp": 123456, "usager_informed": True},
        {"draft": identified_draft, "otp": "", "usager_informed": True},
        {"draft": identified_draft, "otp": "123456"},
        {"draft": identified_draft, "otp": "123456", "usager_informed": "yes"},
        {"draft": identified_draft, "otp": "abcdef", "usager_informed": True},
        {"draft": identified_draft, "otp": "1" * 5000, "usager_informed": True},
        {"draft": "does-not-exist", "otp": "123456", "usager_informed": True},
        {"draft": "../../etc", "otp": "123456", "usager_informed": True},
    ]
    for body in bodies:
        _assert_json_4xx(aidant.post("/api/mandates", body))


def test_revoke_bodies(aidant):
    mandate_id = aidant.create_mandate(["papiers"])
    for body in (
        {},
        {"otp": None},
        {"otp": 123456},
        {"otp": "123456", "demarche": 3},
        {"otp": "123456", "demarche": ["papiers"]},
        {"otp": "123456", "demarche": "casino"},
        {"otp": "abcdef"},
        {"otp": "1" * 3000},
    ):
        _assert_json_4xx(aidant.post(f"/api/mandates/{mandate_id}/revoke", body))
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["status"] == "active"


def test_query_parameters(aidant):
    for params in (
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1000"},
        {"status": "dead"},
        {"cursor": "!!!"},
        {"cursor": "bm90IGpzb24"},
        {"cursor": "WzEsMl0"},
        {"cursor": "x" * 3000},
        {"cursor": "WyJhIiwiYiIsImMiXQ"},
    ):
        _assert_json_4xx(aidant.get("/api/mandates", params=params), 400)
    _assert_json_4xx(aidant.get("/api/usagers", params={"q": "x" * 200}), 400)
    for params in ({"usager": "nobody"}, {"usager": "x" * 300}):
        r = aidant.get("/api/mandates", params=params)
        assert r.status_code == 200 and r.json()["mandates"] == []


def test_unknown_ids(aidant):
    for path in (
        "/api/mandates/nope",
        "/api/mandates/nope/print",
        "/api/mandates/nope/revocation/print",
        "/api/mandates/drafts/nope",
    ):
        _assert_json_4xx(aidant.get(path), 404)
    _assert_json_4xx(aidant.post("/api/mandates/drafts/nope/franceconnect"), 404)


def test_without_a_session_everything_is_401(stack, aidant):
    anonymous = requests.Session()
    calls = [
        ("POST", "/api/mandates/drafts", {"demarches": ["papiers"], "duration": "long"}),
        ("GET", "/api/mandates/drafts/x", None),
        ("POST", "/api/mandates/drafts/x/franceconnect", {}),
        ("POST", "/api/mandates", {"draft": "x", "otp": "123456", "usager_informed": True}),
        ("GET", "/api/mandates", None),
        ("GET", "/api/mandates/x", None),
        ("GET", "/api/mandates/x/print", None),
        ("GET", "/api/mandates/x/revocation/print", None),
        ("POST", "/api/mandates/x/revoke", {"otp": "123456"}),
        ("GET", "/api/usagers", None),
    ]
    for method, path, body in calls:
        r = anonymous.request(method, stack.url + path, json=body)
        _assert_json_4xx(r, 401)


def test_cross_site_requests_are_refused(aidant):
    r = aidant.session.post(
        aidant.url + "/api/mandates/drafts",
        json={"demarches": ["papiers"], "duration": "long"},
        headers={"Origin": "https://evil.example"},
    )
    _assert_json_4xx(r, 403)


def test_wrong_methods(aidant):
    _assert_json_4xx(aidant.session.delete(aidant.url + "/api/mandates/x"), 405)
    _assert_json_4xx(aidant.session.put(aidant.url + "/api/mandates", json={}), 405)
