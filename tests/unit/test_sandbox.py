"""The training sandbox (shared/sandbox/, PROFILE=sandbox), against moto: the profile
and its refusals, sign-up, the starting situations, what expires, the reset, the
inbox instead of e-mail. The HTTP side runs in tests/integration/test_sandbox.py."""

from __future__ import annotations

import importlib.util
import json
import logging
import smtplib
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import boto3
import pyotp
import pytest

from shared import config, errors, mandates
from shared.http import Response

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_ENV = {
    "PROFILE": "sandbox",
    "TABLE_NAME": "aidants-connect-bac-a-sable-test",
    "ISSUER": "http://127.0.0.1:8090",
    "FRANCECONNECT_CLIENT_ID": "aidants-connect-bac-a-sable",
}
SANDBOX_ROUTES = [
    ("GET", "/api/sandbox"),
    ("POST", "/api/sandbox/trainees"),
    ("GET", "/api/sandbox/trainee"),
    ("POST", "/api/sandbox/trainee/reset"),
    ("GET", "/api/sandbox/inbox"),
]


def load_handler(folder: str):
    spec = importlib.util.spec_from_file_location(f"{folder}_handler", ROOT / "functions" / folder / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(handler, method, path, body=None, cookie=None):
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    event = SimpleNamespace(
        method=method, path=path, query={}, headers=headers, body=json.dumps(body).encode() if body is not None else b""
    )
    out = handler.handle(event, SimpleNamespace(hostname="test"))
    return out["statusCode"], out["headers"], json.loads(out["body"]) if out["body"] else None


def raw_items() -> list[dict]:
    """Every item of the moto table as stored (a Scan: tests only)."""
    table = boto3.resource("dynamodb", region_name="eu-west-3").Table(config.settings().table_name)
    return table.scan()["Items"]


@pytest.fixture
def sandbox(monkeypatch, request):
    """moto with the sandbox profile; the production defaults come back afterwards."""
    for name, value in SANDBOX_ENV.items():
        monkeypatch.setenv(name, value)
    config.reset_caches()
    store = request.getfixturevalue("moto_store")
    yield store
    for name in SANDBOX_ENV:
        monkeypatch.delenv(name, raising=False)
    config.reset_caches()
    store.configure()


def sign_up(email="alice@example.fr", first="Alice", last="Martin"):
    from shared.sandbox import trainees

    return trainees.sign_up({"email": email, "first_name": first, "last_name": last})


def log_in(email, secret, offset_steps=0):
    """A session cookie, as POST /api/login gives it in the sandbox (no link)."""
    from shared import login

    response = Response()
    totp = pyotp.TOTP(secret)
    started = login.start(email, totp.at(time.time() + offset_steps * 30), response)
    assert started.session_opened and not started.link_sent
    return dict(response.headers)["Set-Cookie"].split(";")[0]


# -- the profile ----------------------------------------------------------------------


def settings_with(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.reset_caches()
    return config.settings()


def test_production_is_the_default_profile_and_has_nothing_to_refuse(monkeypatch):
    cfg = settings_with(monkeypatch)
    assert cfg.profile == "production" and not cfg.sandbox and cfg.profile_problem is None
    assert cfg.login_link_enabled


@pytest.mark.parametrize(
    "env,why",
    [
        ({"TABLE_NAME": "aidants-connect"}, "production table"),
        ({"ISSUER": "https://aidantsconnect.beta.gouv.fr"}, "production issuer"),
        ({"ISSUER": "https://aidantsconnect.beta.gouv.fr/"}, "production issuer"),
        ({"FRONTEND_URL": "https://aidantsconnect.beta.gouv.fr"}, "production issuer"),
        ({"TABLE_NAME": "ac-prod-2", "PRODUCTION_TABLE_NAMES": "ac-prod-2, ac-prod-3"}, "production table"),
        ({"FRANCECONNECT_URL": "https://oidc.franceconnect.gouv.fr/api/v2"}, "never calls real FranceConnect"),
    ],
)
def test_a_sandbox_pointed_at_production_has_a_problem(monkeypatch, env, why):
    cfg = settings_with(monkeypatch, **{**SANDBOX_ENV, **env})
    assert why in cfg.profile_problem


def test_a_sandbox_of_its_own_has_no_problem_and_never_sends_login_links(monkeypatch):
    cfg = settings_with(monkeypatch, **SANDBOX_ENV, LOGIN_LINK_ENABLED="true")
    assert cfg.sandbox and cfg.profile_problem is None
    assert not cfg.login_link_enabled


def test_an_unknown_profile_is_a_problem(monkeypatch):
    assert "neither" in settings_with(monkeypatch, PROFILE="staging").profile_problem


@pytest.mark.parametrize(
    "folder,method,path",
    [
        ("otp_verify", "GET", "/api/me"),
        ("mandate_read", "GET", "/api/demarches"),
        ("sandbox", "GET", "/api/sandbox"),
        ("oidc_metadata", "GET", "/.well-known/openid-configuration"),
        ("notify", "POST", "/"),
    ],
)
def test_every_function_of_a_sandbox_on_the_production_table_refuses_every_request(
    monkeypatch, caplog, folder, method, path
):
    settings_with(monkeypatch, **{**SANDBOX_ENV, "TABLE_NAME": "aidants-connect"})
    from shared import http

    http._reported.clear()
    handler = load_handler(folder)
    with caplog.at_level(logging.ERROR, logger="aidants_connect.http"):
        for _ in range(2):
            status, headers, body = call(handler, method, path, body={} if method == "POST" else None)
            assert status == 503 and body["error"] == "misconfigured", body
    assert [r.getMessage() for r in caplog.records] == [
        "refusing every request: the sandbox's TABLE_NAME 'aidants-connect' is a production table"
    ]


@pytest.mark.parametrize("method,path", SANDBOX_ROUTES)
def test_production_answers_every_sandbox_route_404_and_writes_nothing(moto_store, method, path):
    handler = load_handler("sandbox")
    body = {"email": "alice@example.fr", "first_name": "A", "last_name": "B"} if method == "POST" else None
    status, _, answer = call(handler, method, path, body=body)
    assert status == 404 and answer["error"] == "not_found"
    assert raw_items() == []


@pytest.mark.parametrize(
    "folder,path",
    [("sandbox_franceconnect", "/franceconnect/.well-known/openid-configuration"), ("sandbox_demo", "/demo/")],
)
def test_the_stand_in_functions_answer_404_in_production(moto_store, folder, path):
    status, _, answer = call(load_handler(folder), "GET", path)
    assert status == 404 and answer["error"] == "not_found"


# -- sign-up and the starting situations ------------------------------------------------


def test_sign_up_gives_an_account_a_device_and_a_structure_with_the_guides_situations(sandbox):
    from shared import listings
    from shared.sandbox import situations

    out = sign_up("Alice.Martin@Example.FR")
    assert out["aidant"]["email"] == "alice.martin@example.fr"
    assert out["structure"]["name"] == "Structure d'entraînement de Alice Martin"
    assert pyotp.TOTP(out["totp_secret"]).now().isdigit()
    assert out["otpauth_uri"].startswith("otpauth://totp/") and out["qr_svg_data_uri"].startswith("data:image/svg")
    page = listings.usagers_of_structure(out["structure"]["id"])
    by_name = {u["name"]: u for u in page["usagers"]}
    assert set(by_name) == {"Rosalie BERNARD", "Michel Jean PETIT", "Jordy LAMBERT", "Florence Anne GIRARD"}
    assert by_name["Florence Anne GIRARD"]["mandates"][0]["status"] == "revoked"
    assert by_name["Jordy LAMBERT"]["has_active_mandate"] and by_name["Michel Jean PETIT"]["has_active_mandate"]
    rosalie = by_name["Rosalie BERNARD"]["mandates"][0]
    days_left = (datetime.fromisoformat(rosalie["expires_at"]) - datetime.now(timezone.utc)).days
    assert rosalie["status"] == "active" and 0 <= days_left < 7  # about to expire: a reminder is due
    # Angela is at the desk with no mandate yet, as the guide's situation has it.
    people = {s["person"]["full_name"]: s for s in situations.describe()}
    assert people["Angela Claire Louise DUBOIS"]["starts_with"] is None
    assert people["Rosalie BERNARD"]["starts_with"] == "expiring_mandate"
    assert people["Florence Anne GIRARD"]["starts_with"] == "revoked_mandate"


def test_everything_the_sign_up_writes_expires_with_the_trainee(sandbox):
    before = int(time.time())
    out = sign_up()
    end = int(datetime.fromisoformat(out["expires_at"]).timestamp())
    assert 30 * 86400 - 5 <= end - before <= 30 * 86400 + 5
    items = raw_items()
    kinds = {item["kind"] for item in items}
    assert {
        "structure",
        "aidant",
        "email_claim",
        "membership",
        "totp_device",
        "usager",
        "mandate",
        "autorisation",
        "journal",
    } <= kinds
    permanent = [(i["pk"], i["kind"]) for i in items if "ttl" not in i and i["kind"] != "rate_counter"]
    assert permanent == []
    trainees_items = [i for i in items if i["kind"] != "rate_counter"]
    assert {int(i["ttl"]) for i in trainees_items} == {end}


def test_in_production_accounts_and_mandates_carry_no_ttl(moto_store):
    from shared import accounts
    from shared.store import default_ttl

    assert default_ttl() is None
    accounts.new_structure("S", "1" * 14, "adresse", structure_id="s1").save()
    accounts.create_aidant("ana@b.fr", "Ana", "B", ["s1"])
    usager = mandates.upsert_usager("sub-1", {"given_name": "Ana", "family_name": "B"}, "s1")
    assert usager.id == mandates.usager_id_for("sub-1")  # the structure changes nothing in production
    assert [i["pk"] for i in raw_items() if "ttl" in i] == []


def test_two_trainees_of_one_group_have_their_own_structures_and_usagers(sandbox):
    from shared import listings
    from shared.sandbox import situations

    alice, bruno = sign_up("alice@example.fr"), sign_up("bruno@example.fr", "Bruno", "Petit")
    a, b = alice["structure"]["id"], bruno["structure"]["id"]
    assert a != b
    angela = situations.SITUATIONS[0]
    assert angela.person == "angela" and angela.usager_id(a) != angela.usager_id(b)
    ids_a = {u["id"] for u in listings.usagers_of_structure(a)["usagers"]}
    ids_b = {u["id"] for u in listings.usagers_of_structure(b)["usagers"]}
    assert ids_a and ids_b and not ids_a & ids_b
    mandate_of_a = listings.mandates_of_structure(a).items[0].id
    with pytest.raises(errors.NotFound):
        mandates.load_for_structure(mandate_of_a, b)


def test_an_address_already_signed_up_is_refused_until_its_account_ends(sandbox, monkeypatch):
    from shared.sandbox import trainees

    sign_up("alice@example.fr")
    with pytest.raises(errors.Conflict) as taken:
        sign_up("ALICE@example.fr", "Autre", "Personne")
    assert taken.value.code == "email_taken" and taken.value.field == "email"
    # Thirty days later the claim is the previous trainee's, whose account has ended.
    later = time.time() + 31 * 86400
    monkeypatch.setattr(trainees.time, "time", lambda: later)
    again = sign_up("alice@example.fr", "Alice", "Nouvelle")
    assert again["aidant"]["first_name"] == "Alice"


@pytest.mark.parametrize(
    "data,field",
    [
        ({"email": "a,victim@example.org", "first_name": "A", "last_name": "B"}, "email"),
        ({"email": "alice@example.fr", "first_name": " ", "last_name": "B"}, "first_name"),
        ({"email": "alice@example.fr", "first_name": "A", "last_name": "x" * 101}, "last_name"),
        ({"first_name": "A", "last_name": "B"}, "email"),
    ],
)
def test_sign_up_refuses_bad_input_naming_the_field(sandbox, data, field):
    from shared.sandbox import trainees

    with pytest.raises(errors.BadRequest) as refused:
        trainees.sign_up(data)
    assert refused.value.field == field
    assert raw_items() == []  # refused before any write, rate counters included


def test_sign_ups_are_limited_per_address_per_day_and_in_all_per_hour(sandbox, monkeypatch):
    monkeypatch.setenv("SANDBOX_SIGNUPS_PER_HOUR", "4")  # alice, twice refused as taken, bruno
    config.reset_caches()
    sign_up("alice@example.fr")
    for _ in range(2):
        with pytest.raises(errors.Conflict):
            sign_up("Alice@example.fr")  # the same address, however written, counts as one
    with pytest.raises(errors.TooManyRequests) as per_address:
        sign_up("alice@example.fr")
    assert "pour cette adresse" in per_address.value.description
    sign_up("bruno@example.fr")
    with pytest.raises(errors.TooManyRequests) as in_all:
        sign_up("chloe@example.fr")
    assert int(in_all.value.headers["Retry-After"]) <= 3600


# -- logging in, expiry ----------------------------------------------------------------------


def test_a_right_code_opens_the_session_at_once_and_no_email_is_written(sandbox):
    from shared import sessions
    from shared.http import Headers, Request

    out = sign_up()
    cookie = log_in("alice@example.fr", out["totp_secret"])
    request = Request("GET", "/api/me", Headers({"cookie": cookie}), {}, b"")
    assert sessions.authenticate(request).structure_id == out["structure"]["id"]
    assert [i for i in raw_items() if i["kind"] in ("outbox", "login_link")] == []


def test_a_trainee_past_the_end_of_the_account_cannot_log_in_nor_use_a_session(sandbox, monkeypatch):
    from shared import login, sessions, store
    from shared.http import Headers, Request

    out = sign_up()
    cookie = log_in("alice@example.fr", out["totp_secret"])
    request = Request("GET", "/api/me", Headers({"cookie": cookie}), {}, b"")
    end = int(datetime.fromisoformat(out["expires_at"]).timestamp())
    # The session itself would last (12 h): pretend the account ends now, as it will.
    store.Aidant.find(out["aidant"]["id"]).update(actions=[store.Aidant.ttl.set(int(time.time()) - 1)])
    with pytest.raises(errors.Unauthorized) as ended:
        sessions.authenticate(request)
    assert ended.value.code == "session_revoked"
    monkeypatch.setattr(login.time, "time", lambda: end + 1)
    with pytest.raises(errors.Unauthorized):
        login.start("alice@example.fr", pyotp.TOTP(out["totp_secret"]).at(end + 1), Response())


def test_a_trainees_structure_deleted_after_the_session_was_read_is_an_ended_account_not_a_500(sandbox):
    from shared import sessions, store
    from shared.http import Headers, Request
    from shared.sandbox import trainees

    out = sign_up()
    cookie = log_in("alice@example.fr", out["totp_secret"])
    caller = sessions.authenticate(Request("GET", "/api/sandbox/trainee", Headers({"cookie": cookie}), {}, b""))
    # DynamoDB's TTL deletes the structure between the session's read and the account's.
    store.Structure.find(caller.structure_id).delete()
    with pytest.raises(errors.Unauthorized) as ended:
        trainees.account(caller)
    assert ended.value.code == "session_revoked"


def test_what_a_trainees_request_writes_takes_the_trainees_end(sandbox):
    """Through the session: a usager identified during the trainee's session."""
    from shared import sessions
    from shared.http import Headers, Request

    out = sign_up()
    cookie = log_in("alice@example.fr", out["totp_secret"])
    caller = sessions.authenticate(Request("GET", "/api/me", Headers({"cookie": cookie}), {}, b""))
    usager = mandates.upsert_usager("sub-x", {"given_name": "Paul", "family_name": "X"}, caller.structure_id)
    end = int(datetime.fromisoformat(out["expires_at"]).timestamp())
    assert usager.ttl == end


# -- reset -------------------------------------------------------------------------------------


def test_reset_moves_the_trainee_to_a_fresh_structure_with_the_starting_situations(sandbox):
    from shared import listings, revocation, sessions
    from shared.http import Headers, Request
    from shared.sandbox import trainees

    out = sign_up()
    old = out["structure"]["id"]
    cookie = log_in("alice@example.fr", out["totp_secret"])
    caller = sessions.authenticate(Request("GET", "/", Headers({"cookie": cookie}), {}, b""))
    jordy = next(m for m in listings.mandates_of_structure(old).items if m.usager_name == "Jordy LAMBERT")
    loaded, autorisations = mandates.load(jordy.id)
    revocation.apply(revocation.plan(loaded, autorisations, None), caller.aidant_id, old)  # the exercise done
    response = Response()
    done = trainees.reset(caller, response)
    new = done["structure"]["id"]
    assert new != old
    new_cookie = dict(response.headers)["Set-Cookie"].split(";")[0]
    assert sessions.authenticate(Request("GET", "/", Headers({"cookie": new_cookie}), {}, b"")).structure_id == new
    with pytest.raises(errors.Unauthorized):  # the old session went with the old structure
        sessions.authenticate(Request("GET", "/", Headers({"cookie": cookie}), {}, b""))
    statuses = {m.usager_name: mandates.status_of(m) for m in listings.mandates_of_structure(new).items}
    assert statuses["Jordy LAMBERT"] == "active" and statuses["Florence Anne GIRARD"] == "revoked"
    # The old structure is closed: its mandates are nobody's to read any more.
    with pytest.raises(errors.Conflict) as twice:
        trainees.reset(caller, Response())  # the same (old) session clicked again
    assert twice.value.code == "already_reset"


# -- e-mail -------------------------------------------------------------------------------------


def test_the_sandboxs_e_mails_land_in_the_trainees_inbox_and_never_reach_smtp(sandbox, monkeypatch):
    from shared import notifications, store
    from shared.notifications import smtp
    from shared.sandbox import inbox

    def no_smtp(*args, **kwargs):
        raise AssertionError("the sandbox opened an SMTP connection")

    monkeypatch.setattr(smtplib, "SMTP", no_smtp)
    monkeypatch.setattr(smtplib, "SMTP_SSL", no_smtp)
    out = sign_up()
    structure_id = out["structure"]["id"]
    from shared import listings

    mandate = listings.mandates_of_structure(structure_id).items[0]
    usager = store.Usager.find(mandate.usager_id)
    structure = store.Structure.find(structure_id)
    item = notifications.mandate_created_item(mandate, usager, structure)
    assert item.inbox == structure_id
    item.save()
    assert notifications.deliver(item.id) == notifications.SENT
    assert notifications.deliver(item.id) == notifications.SKIPPED  # once
    [message] = inbox.messages_of(structure_id)
    assert message["to"] == usager.email and "mandat" in message["subject"].lower()
    assert usager.full_name in message["text"]
    assert inbox.messages_of("another-structure") == []
    with pytest.raises(RuntimeError, match="never connects"):
        smtp.connect()


def test_an_e_mail_of_the_sandbox_with_no_trainees_inbox_goes_nowhere(sandbox, monkeypatch):
    from shared import notifications
    from shared.sandbox import inbox

    monkeypatch.setattr(smtplib, "SMTP", lambda *a, **k: pytest.fail("SMTP"))
    item = notifications.new_item("habilitation_created", "referent@example.fr", {})
    assert item.inbox == inbox.NO_INBOX
    item.save()
    drained = notifications.drive_pending()
    assert drained[notifications.SENT] == 1 and drained["smtp_connections"] == 0
