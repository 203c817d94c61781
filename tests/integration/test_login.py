"""Aidant login over HTTP through the local gateway, against DynamoDB Local and the
SMTP sink, as a browser does it, and the attacks on it."""

import concurrent.futures
import time

import pytest
import requests

from tests.conftest import Mailbox, extract_link

GENERIC = "L'adresse e-mail ou le code à 6 chiffres est incorrect."


def post_login(stack, email, code, session=None):
    return (session or requests).post(stack.url + "/api/login", json={"email": email, "otp": code}, timeout=10)


def link_for(stack, email, code, session=None):
    before = stack.mail.count()
    r = post_login(stack, email, code, session)
    assert r.status_code == 200, r.text
    assert r.json() == {"link_sent": True, "session_opened": False}
    return extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/")


def journal_reasons(stack, email):
    stack.use_store()
    from shared import accounts, journal

    aidant = accounts.find_aidant_by_email(email)
    return [(e.action, e.reason) for e in journal.for_aidant(aidant.id)]


def refusals(stack, email, event="login_refused"):
    """The log lines of the refused attempts on this aidant's address: anonymous
    attempts leave no journal entry (shared.anonymous)."""
    stack.use_store()
    from shared import accounts

    aidant_id = accounts.find_aidant_by_email(email).id
    return [e for e in stack.log_events("otp_verify", event) if e.get("aidant_id") == aidant_id]


def refusal_reasons(stack, email, event="login_refused"):
    return [e["reason"] for e in refusals(stack, email, event)]


def no_refusal_in_the_journal(stack, email):
    return all(
        action == "login_succeeded" or action == "login_link_sent" for action, _ in journal_reasons(stack, email)
    )


def test_login_by_code_then_emailed_link_opens_a_session(stack):
    email = stack.new_aidant(first_name="Nadia")
    session = requests.Session()
    link = link_for(stack, email, stack.otp(email), session)
    assert link.startswith(stack.url + "/api/login/")
    r = session.get(link, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/espace-aidant/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http on loopback
    me = session.get(stack.url + "/api/me").json()
    assert me["aidant"]["first_name"] == "Nadia"
    assert me["structure"]["id"] == stack.seed["structure"]["id"]
    assert ("login_succeeded", None) in journal_reasons(stack, email)


def test_the_session_token_is_not_stored_in_clear(stack):
    email = stack.new_aidant()
    session = stack.login(requests.Session(), email)
    token = session.cookies["ac_session"]
    stack.use_store()
    from shared import crypto
    from shared.store import Session

    assert Session.get(*Session.key(crypto.keyed_hash(token, "session"))).aidant_id
    assert not Session.count(f"SESSION#{token}")


def test_logout_ends_the_session_server_side(stack):
    email = stack.new_aidant()
    session = stack.login(requests.Session(), email)
    token = session.cookies["ac_session"]
    assert session.post(stack.url + "/api/logout", json={}).status_code == 200
    replay = requests.get(stack.url + "/api/me", cookies={"ac_session": token})
    assert replay.status_code == 401 and replay.json()["error"] == "session_expired"


def test_a_replayed_code_is_refused(stack):
    email = stack.new_aidant()
    code = stack.otp(email)
    link_for(stack, email, code)
    again = post_login(stack, email, code)
    assert again.status_code == 401 and again.json()["error_description"] == GENERIC
    assert "wrong_or_replayed_code" in refusal_reasons(stack, email)
    assert no_refusal_in_the_journal(stack, email)


def test_two_concurrent_requests_with_one_code_give_one_link(stack):
    email = stack.new_aidant()
    code = stack.otp(email)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post_login(stack, email, code).status_code, range(8)))
    # The others: a replayed step (401), or not admitted while five attempts were in
    # flight (429, see the parallel guesses below).
    assert statuses.count(200) == 1 and set(statuses) <= {200, 401, 429}, statuses
    assert statuses.count(401) >= 4, statuses


def test_brute_force_locks_the_email_for_a_while(stack):
    email = stack.new_aidant()
    good = stack.otp(email)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    statuses = [post_login(stack, email, wrong).status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = post_login(stack, email, good)  # even the right code, while locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    lines = refusals(stack, email)
    assert [line["locked"] for line in lines if line["reason"] != "locked"] == [False] * 4 + [True]
    assert lines[-1]["reason"] == "locked"
    assert not journal_reasons(stack, email)  # five wrong codes and a lock: nobody accountable yet


def test_parallel_guesses_get_no_more_checks_than_sequential_ones(stack):
    """Forty wrong codes sent at once: five are checked (401), the rest refused
    before any check (429), and then even the right code waits out the lock."""
    email = stack.new_aidant()
    good = stack.otp(email)
    guesses = [f"{(int(good) + i) % 1000000:06d}" for i in range(1, 41)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda code: post_login(stack, email, code).status_code, guesses))
    assert sorted(statuses) == [401] * 5 + [429] * 35, statuses
    assert post_login(stack, email, good).status_code == 429
    lines = refusals(stack, email)
    assert [line["reason"] for line in lines].count("wrong_or_replayed_code") == 5
    assert sum(1 for line in lines if line.get("locked")) == 1


def test_unknown_email_is_indistinguishable_from_a_wrong_code(stack):
    known = stack.new_aidant()
    wrong_code = post_login(stack, known, "000000")
    unknown = post_login(stack, "personne@nulle-part.fr", "000000")
    assert (wrong_code.status_code, wrong_code.json()) == (unknown.status_code, unknown.json())
    # Same work too: the store calls (exposed on local runs only) do not tell them apart.
    assert wrong_code.headers["X-Store-Calls"] == unknown.headers["X-Store-Calls"]
    # …and the lockout too: an unknown e-mail locks after the same number of tries.
    for _ in range(4):
        post_login(stack, "personne2@nulle-part.fr", "000000")
    assert post_login(stack, "personne2@nulle-part.fr", "000000").status_code == 401
    assert post_login(stack, "personne2@nulle-part.fr", "000000").status_code == 429


def test_inactive_aidant_is_refused_like_anyone(stack):
    email = stack.new_aidant(is_active=False)
    r = post_login(stack, email, stack.otp(email))
    assert r.status_code == 401 and r.json()["error_description"] == GENERIC
    assert "inactive_aidant" in refusal_reasons(stack, email)


def test_aidant_of_no_active_structure_is_refused(stack):
    structure_id = stack.new_structure("Structure fermée")
    email = stack.new_aidant(structure_id)
    stack.use_store()
    from shared.store import Structure

    Structure(*Structure.key(structure_id)).update(actions=[Structure.is_active.set(False)])
    r = post_login(stack, email, stack.otp(email))
    assert r.status_code == 401
    assert "no_active_structure" in refusal_reasons(stack, email)


def test_a_link_works_once(stack):
    email = stack.new_aidant()
    link = link_for(stack, email, stack.otp(email))
    assert requests.get(link, allow_redirects=False).status_code == 302
    reused = requests.get(link, allow_redirects=False)
    assert reused.status_code == 410 and reused.json()["error"] == "expired"
    # A browser is sent back to the login page with a message instead of JSON.
    page = requests.get(link, allow_redirects=False, headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/connexion/?erreur=")
    assert "link_reused" in refusal_reasons(stack, email, "login_link_refused")
    assert no_refusal_in_the_journal(stack, email)


def test_an_expired_link_is_refused(stack):
    email = stack.new_aidant()
    link = link_for(stack, email, stack.otp(email))
    token = link.rsplit("/", 1)[1]
    stack.use_store()
    from shared import crypto
    from shared.store import LoginLink

    LoginLink(*LoginLink.key(crypto.keyed_hash(token, "login-link"))).update(
        actions=[LoginLink.expires_at.set(int(time.time()) - 1)]
    )
    r = requests.get(link, allow_redirects=False)
    assert r.status_code == 410
    assert "link_expired" in refusal_reasons(stack, email, "login_link_refused")


def test_a_forged_link_is_refused(stack):
    r = requests.get(stack.url + "/api/login/" + "A" * 43, allow_redirects=False)
    assert r.status_code == 410


def test_login_returns_to_where_the_aidant_was(stack):
    email = stack.new_aidant()
    before = stack.mail.count()
    r = requests.post(stack.url + "/api/login", json={"email": email, "otp": stack.otp(email), "next": "/mandats/"})
    assert r.status_code == 200
    link = extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/")
    assert requests.get(link, allow_redirects=False).headers["Location"] == "/mandats/"


def test_next_cannot_send_the_session_elsewhere(stack):
    email = stack.new_aidant()
    before = stack.mail.count()
    requests.post(stack.url + "/api/login", json={"email": email, "otp": stack.otp(email), "next": "//evil.example/"})
    link = extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/")
    assert requests.get(link, allow_redirects=False).headers["Location"] == "/espace-aidant/"


def test_a_deactivated_aidant_loses_their_live_session(stack):
    email = stack.new_aidant()
    session = stack.login(requests.Session(), email)
    assert session.get(stack.url + "/api/me").status_code == 200
    stack.use_store()
    from shared import accounts
    from shared.store import Aidant

    aidant = accounts.find_aidant_by_email(email)
    aidant.update(actions=[Aidant.is_active.set(False)])
    r = session.get(stack.url + "/api/me")
    assert r.status_code == 401 and r.json()["error"] == "session_revoked"


def test_idle_session_expires(stack):
    email = stack.new_aidant()
    session = stack.login(requests.Session(), email)
    stack.use_store()
    from shared import crypto
    from shared.store import Session

    item = Session.get(*Session.key(crypto.keyed_hash(session.cookies["ac_session"], "session")))
    item.update(actions=[Session.last_seen.set(int(time.time()) - 31 * 60)])
    assert session.get(stack.url + "/api/me").status_code == 401


@pytest.mark.parametrize(
    "body,headers,status",
    [
        (b'{"email": "a@b.fr", "otp": "123456"', {"Content-Type": "application/json"}, 400),
        (b'"just a string"', {"Content-Type": "application/json"}, 400),
        (b'{"email": "a@b.fr", "otp": "123456"}', {"Content-Type": "text/plain"}, 415),
        (b'{"email": 12, "otp": "123456"}', {"Content-Type": "application/json"}, 400),
        (b'{"email": "not-an-email", "otp": "123456"}', {"Content-Type": "application/json"}, 400),
        (b'{"email": "a@b.fr"}', {"Content-Type": "application/json"}, 400),
        (b'{"email": "a@b.fr", "otp": "' + b"1" * 100 + b'"}', {"Content-Type": "application/json"}, 400),
        (b'{"email": "' + b"a" * 100000 + b'@b.fr", "otp": "1"}', {"Content-Type": "application/json"}, 413),
        (b"\xff\xfe\x00", {"Content-Type": "application/json"}, 400),
    ],
)
def test_malformed_login_bodies_get_a_4xx_json(stack, body, headers, status):
    r = requests.post(stack.url + "/api/login", data=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"] and r.json()["error_description"]


def test_oversized_body_is_stopped_at_the_gateway(stack):
    r = requests.post(
        stack.url + "/api/login", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_openfaas_function_path_reaches_the_same_handler(stack):
    for name in ("otp_verify", "otp-verify"):
        r = requests.get(f"{stack.url}/function/{name}/api/me")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_store_calls_per_login_are_reported_and_bounded(stack):
    email = stack.new_aidant()
    r = post_login(stack, email, stack.otp(email))
    assert 1 <= int(r.headers["X-Store-Calls"]) <= 10


def test_closing_a_structure_ends_its_live_sessions(stack):
    structure_id = stack.new_structure("Structure qui ferme")
    session = stack.login(requests.Session(), stack.new_aidant(structure_id))
    assert session.get(stack.url + "/api/me").status_code == 200
    stack.use_store()
    from shared.store import Structure

    Structure(*Structure.key(structure_id)).update(actions=[Structure.is_active.set(False)])
    r = session.get(stack.url + "/api/me")
    assert r.status_code == 401 and r.json()["error"] == "session_revoked"
