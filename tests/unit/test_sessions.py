"""Sessions: cookie → server-side item, timeouts, duplicated cookies (the cross-site
refusal is the router's: tests/unit/test_http.py)."""

import time
from types import SimpleNamespace

import pytest

from shared import accounts, errors, lifecycle, sessions
from shared.http import Request, Response


def _request(method="GET", cookie=None, origin=None):
    headers = {}
    if cookie:
        headers["Cookie"] = f"{sessions.COOKIE}={cookie}"
    if origin:
        headers["Origin"] = origin
    return Request.from_event(SimpleNamespace(method=method, path="/api/x", body=b"", headers=headers, query={}))


@pytest.fixture
def logged_in(moto_store):
    structure = accounts.new_structure("S", "1" * 14, "adresse", structure_id="s1")
    structure.save()
    aidant, _ = accounts.create_aidant("a@b.fr", "Ana", "B", ["s1"], device_kind=None)
    response = Response()
    sessions.open_session(aidant, "s1", response)
    cookie = dict(response.to_openfaas()["headers"])["Set-Cookie"]
    return aidant, cookie.split(";")[0].split("=", 1)[1]


def test_session_cookie_identifies_the_aidant(logged_in):
    aidant, token = logged_in
    caller = sessions.authenticate(_request(cookie=token))
    assert caller.aidant_id == aidant.id and caller.structure_id == "s1"


def test_a_duplicated_session_cookie_is_refused_not_resolved(logged_in):
    _, token = logged_in
    request = Request.from_event(
        SimpleNamespace(
            method="GET",
            path="/api/me",
            body=b"",
            query={},
            headers={"Cookie": f"{sessions.COOKIE}={token}; {sessions.COOKIE}=planted"},
        )
    )
    with pytest.raises(errors.DuplicateCookie) as refused:
        sessions.authenticate(request)
    assert refused.value.status == 401 and refused.value.code == "duplicate_cookie"


def test_absolute_lifetime_is_enforced(logged_in, moto_store):
    _, token = logged_in
    from shared import crypto

    item = moto_store.Session.get(*moto_store.Session.key(crypto.keyed_hash(token, "session")))
    item.update(actions=[moto_store.Session.expires_at.set(int(time.time()) - 1)])
    with pytest.raises(errors.Unauthorized):
        sessions.authenticate(_request(cookie=token))


def test_garbage_cookies_are_refused(logged_in):
    for token in ["", "x" * 500, "not-a-session"]:
        with pytest.raises(errors.Unauthorized):
            sessions.authenticate(_request(cookie=token or None))


def test_ending_all_sessions_of_an_aidant(logged_in):
    aidant, token = logged_in
    assert lifecycle.end_sessions(aidant.id) == 1
    with pytest.raises(errors.Unauthorized):
        sessions.authenticate(_request(cookie=token))


def test_the_cookie_names_where_to_look_so_one_read_authenticates(logged_in, moto_store):
    aidant, token = logged_in
    assert token.startswith(f"{aidant.id}.s1.")
    moto_store.calls.reset()
    caller, found = sessions.authenticate_with(_request(cookie=token), moto_store.Structure.key("s1"))
    assert caller.aidant_id == aidant.id and caller.structure_id == "s1"
    assert moto_store.calls.operations == ["BatchGetItem"]
    assert list(found) == [moto_store.Structure.key("s1")]  # what was asked for, no more


def test_changing_the_names_in_the_cookie_finds_no_session(logged_in, moto_store):
    aidant, token = logged_in
    other, _ = accounts.create_aidant("c@d.fr", "Cleo", "D", ["s1"], device_kind=None)
    _, _, random_part = token.split(".")
    for forged in (f"{other.id}.s1.{random_part}", f"{aidant.id}.s2.{random_part}", random_part):
        with pytest.raises(errors.Unauthorized):
            sessions.authenticate(_request(cookie=forged))


def test_a_cookie_without_names_still_works_in_two_reads(moto_store):
    structure = accounts.new_structure("S", "1" * 14, "adresse", structure_id="s.1")  # no name in the cookie
    structure.save()
    aidant, _ = accounts.create_aidant("e@f.fr", "Eva", "F", ["s.1"], device_kind=None)
    response = Response()
    sessions.open_session(aidant, "s.1", response)
    token = dict(response.to_openfaas()["headers"])["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert "." not in token
    moto_store.calls.reset()
    assert sessions.authenticate(_request(cookie=token)).structure_id == "s.1"
    assert moto_store.calls.operations == ["GetItem", "BatchGetItem"]
