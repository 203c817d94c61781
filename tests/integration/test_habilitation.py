"""Accreditation over HTTP through the local gateway: the requester's link, statuses,
messages, the staff's decisions, card import, training marks, e-mails through the
outbox and notify; and the refusals."""

import concurrent.futures
import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests

from tests.conftest import Mailbox, extract_link

REQ = "/api/habilitation/requests"
STAFF = "/api/staff/habilitation/requests"


def form(suffix=None, **changes):
    suffix = suffix or str(time.time_ns())[-8:]
    data = {
        "siret": "802 040 220 00019",
        "name": f"CCAS de Test {suffix}",
        "address": "2 place de la Mairie, 02200 Soissons",
        "structure_type": "ccas",
        "referent": {
            "first_name": "Rémi",
            "last_name": "Référent",
            "email": f"remi-{suffix}@test.aidantsconnect.fr",
            "profession": "Directeur",
            "phone": "01 02 03 04 05",
        },
        "referent_is_aidant": True,
        "aidants": [
            {
                "first_name": "Alice",
                "last_name": "Aidante",
                "email": f"alice-{suffix}@test.aidantsconnect.fr",
                "profession": "Travailleuse sociale",
            },
            {
                "first_name": "Bob",
                "last_name": "Aidant",
                "email": f"bob-{suffix}@test.aidantsconnect.fr",
                "profession": "Conseiller numérique",
            },
        ],
    }
    data.update(changes)
    return data


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def staff(stack):
    email = stack.new_aidant(first_name="Estelle")
    stack.use_store()
    from shared import accounts
    from shared.store import Aidant, Training

    aid = accounts.find_aidant_by_email(email).id
    Aidant(*Aidant.key(aid)).update(actions=[Aidant.is_staff.set(True)])
    Training(*Training.key(aid), aidant_id=aid, trained_on="2024-01-01", pix_passed=True).save()
    return {"email": email, "s": stack.login(requests.Session(), email)}


def create(stack, data=None):
    before = stack.mail.count()
    r = requests.post(stack.url + REQ, json=data or form())
    assert r.status_code == 201, r.text
    return r.json(), before


def test_one_address_gets_three_requests_a_day_not_an_email_per_post(stack):
    """The form is public and e-mails the address typed: it must not be a way to send
    our e-mails to someone, as often as one likes."""
    data = form()
    address = data["referent"]["email"]
    for _ in range(3):
        mark = create(stack, form(referent={**data["referent"]}))[1]
        stack.mail.wait_for(address, "habilitation", after=mark)
    refused = requests.post(stack.url + REQ, json=form(referent={**data["referent"], "email": address.upper()}))
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert "adresse" in refused.json()["error_description"]
    other, mark = create(stack)  # another address is not held back
    stack.mail.wait_for(other_address(other, stack), "habilitation", after=mark)
    assert len([m for m in stack.mail.messages() if address in str(m.get("To", ""))]) == 3


def test_concurrent_requests_for_one_address_never_overshoot_the_limit(stack):
    data = form()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.post(stack.url + REQ, json=form(referent=data["referent"]), timeout=30).status_code,
                range(10),
            )
        )
    assert sorted(statuses) == [201] * 3 + [429] * 7, statuses


def other_address(created, stack):
    shown = requests.get(f"{stack.url}{REQ}/{created['id']}", headers=auth(created["token"])).json()
    return shown["referent"]["email"]


def test_the_requester_gets_a_link_by_email_that_opens_the_request(stack):
    data = form()
    created, before = create(stack, data)
    assert created["status"] == "brouillon"
    mail = stack.mail.wait_for(data["referent"]["email"], "habilitation", after=before)
    link = extract_link(Mailbox.text(mail), "/habilitation/suivi/")
    parts = urlsplit(link)
    assert parse_qs(parts.query)["demande"] == [created["id"]] and parts.fragment == created["token"]
    r = requests.get(f"{stack.url}{REQ}/{created['id']}", headers=auth(parts.fragment))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status_label"] == "Brouillon" and body["siret"] == "80204022000019" and body["editable"]
    assert [a["first_name"] for a in body["aidants"]] == ["Alice", "Bob"]
    assert "access_hash" not in r.text and "sealed_token" not in r.text


def test_without_the_right_token_the_request_is_out_of_reach(stack):
    created, _ = create(stack)
    url = f"{stack.url}{REQ}/{created['id']}"
    assert requests.get(url).status_code == 401
    wrong = requests.get(url, headers=auth("x" * 43))
    assert wrong.status_code == 404 and wrong.json()["error"] == "not_found"
    other, _ = create(stack)
    assert requests.get(url, headers=auth(other["token"])).status_code == 404
    assert requests.post(url + "/submit", json={}, headers=auth(other["token"])).status_code == 404


def test_the_whole_journey_from_request_to_an_aidant_logging_in_with_a_card(stack, staff):
    s = staff["s"]
    data = form()
    created, _ = create(stack, data)
    rid, token = created["id"], created["token"]
    url = f"{stack.url}{REQ}/{rid}"
    email = data["referent"]["email"]

    # Draft edited, then sent.
    data["name"] = data["name"] + " (modifié)"
    r = requests.put(url, json=data, headers=auth(token))
    assert r.status_code == 200 and r.json()["name"].endswith("(modifié)")
    before = stack.mail.count()
    r = requests.post(url + "/submit", json={}, headers=auth(token))
    assert r.status_code == 200 and r.json()["status"] == "envoyee" and not r.json()["editable"]
    stack.mail.wait_for(email, "envoyée", after=before)
    assert requests.put(url, json=data, headers=auth(token)).status_code == 409

    # Staff see it in their queue, put it on hold, talk, ask for changes.
    queue = s.get(stack.url + STAFF, params={"status": "envoyee"}).json()["requests"]
    assert rid in [q["id"] for q in queue]
    r = s.post(f"{stack.url}{STAFF}/{rid}/decision", json={"decision": "hold"})
    assert r.status_code == 200 and r.json()["status"] == "en_attente"
    before = stack.mail.count()
    r = s.post(f"{stack.url}{STAFF}/{rid}/messages", json={"message": "Pouvez-vous préciser l'adresse ?"})
    assert r.status_code == 201
    stack.mail.wait_for(email, "Nouveau message", after=before)
    r = requests.post(url + "/messages", json={"message": "C'est au rez-de-chaussée."}, headers=auth(token))
    assert r.status_code == 201
    assert [m["author"] for m in r.json()["messages"]] == ["staff", "requester"]
    before = stack.mail.count()
    r = s.post(
        f"{stack.url}{STAFF}/{rid}/decision", json={"decision": "request_changes", "message": "Ajoutez le bâtiment."}
    )
    assert r.status_code == 200 and r.json()["status"] == "modifications_demandees"
    changes_mail = stack.mail.wait_for(email, "modifications", after=before)
    assert "Ajoutez le bâtiment." in Mailbox.text(changes_mail)

    # The requester corrects and sends again; staff accept.
    data["address"] = "2 place de la Mairie, bâtiment B, 02200 Soissons"
    assert requests.put(url, json=data, headers=auth(token)).status_code == 200
    assert requests.post(url + "/submit", json={}, headers=auth(token)).json()["status"] == "envoyee"
    before = stack.mail.count()
    r = s.post(f"{stack.url}{STAFF}/{rid}/decision", json={"decision": "accept"})
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["status"] == "acceptee" and accepted["structure_id"]
    stack.mail.wait_for(email, "acceptée", after=before)
    sid = accepted["structure_id"]
    accounts = {a["email"]: a for a in accepted["accounts"]}
    assert set(accounts) == {email, data["aidants"][0]["email"], data["aidants"][1]["email"]}
    assert not any(a["is_active"] for a in accounts.values())
    assert accounts[email]["role"] == "referent"
    assert requests.get(url, headers=auth(token)).json()["status_label"] == "Acceptée"
    # Accepting twice creates nothing more.
    again = s.post(f"{stack.url}{STAFF}/{rid}/decision", json={"decision": "accept"}).json()
    assert len(again["accounts"]) == 3
    # Inactive accounts cannot log in.
    assert requests.post(stack.url + "/api/login", json={"email": email, "otp": "123456"}).status_code == 401

    # Staff import the kit's cards for this structure and mark everyone trained.
    seeds = {f"K{rid[:6].upper()}{i}": pyotp.random_base32(32) for i in range(3)}
    csv = "numero_serie,seed\n" + "\n".join(f"{k},{v}" for k, v in seeds.items())
    r = s.post(stack.url + "/api/staff/cards", json={"csv": csv, "seed_encoding": "base32", "structure_id": sid})
    assert r.status_code == 201 and sorted(r.json()["imported"]) == sorted(s_.upper() for s_ in seeds)
    stock = s.get(stack.url + "/api/staff/cards").json()["cards"]
    assert {k.upper() for k in seeds} <= {c["serial"] for c in stock}
    for account in accounts.values():
        r = s.post(
            f"{stack.url}/api/staff/aidants/{account['aidant_id']}/training",
            json={"trained_on": "2024-05-02", "pix_passed": True},
        )
        assert r.status_code == 200 and r.json()["complete"] is True and r.json()["is_active"] is False

    # Staff link and validate the référent's card (the welcome kit), which activates them.
    serials = sorted(seeds)
    ref_card = serials[0]
    totp = pyotp.TOTP(seeds[ref_card], interval=60)
    ref_url = f"{stack.url}/api/referent/structures/{sid}/aidants/{accounts[email]['aidant_id']}"
    assert s.post(ref_url + "/card", json={"serial": ref_card}).status_code == 201
    r = s.post(ref_url + "/card/validate", json={"otp": totp.now()})
    assert r.status_code == 200 and r.json()["is_active"] is True

    # The référent logs in with that card and gives Alice hers.
    referent = requests.Session()
    before = stack.mail.count()
    assert (
        referent.post(stack.url + "/api/login", json={"email": email, "otp": totp.at(time.time() + 60)}).status_code
        == 200
    )
    referent.get(
        extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/"),
        allow_redirects=False,
    )
    mine = referent.get(stack.url + "/api/referent/structures").json()["structures"]
    assert [m["id"] for m in mine] == [sid] and mine[0]["active_aidants"] == 1
    alice = accounts[data["aidants"][0]["email"]]
    alice_url = f"{stack.url}/api/referent/structures/{sid}/aidants/{alice['aidant_id']}"
    alice_totp = pyotp.TOTP(seeds[serials[1]], interval=60)
    assert referent.post(alice_url + "/card", json={"serial": serials[1]}).status_code == 201
    r = referent.post(alice_url + "/card/validate", json={"otp": alice_totp.now()})
    assert r.status_code == 200 and r.json()["is_active"] is True
    detail = referent.get(f"{stack.url}/api/referent/structures/{sid}").json()
    assert detail["structure"]["active_aidants"] == 2
    staff_view = s.get(f"{stack.url}{STAFF}/{rid}").json()
    assert {a["email"]: a["is_active"] for a in staff_view["accounts"]}[alice["email"]] is True


def test_staff_refuse_with_a_message_and_the_requester_is_told(stack, staff):
    data = form()
    created, _ = create(stack, data)
    requests.post(f"{stack.url}{REQ}/{created['id']}/submit", json={}, headers=auth(created["token"]))
    before = stack.mail.count()
    r = staff["s"].post(
        f"{stack.url}{STAFF}/{created['id']}/decision",
        json={"decision": "refuse", "message": "Les bénévoles ne peuvent pas être habilités."},
    )
    assert r.status_code == 200 and r.json()["status"] == "refusee" and r.json()["structure_id"] is None
    mail = stack.mail.wait_for(data["referent"]["email"], "refusée", after=before)
    assert "bénévoles" in Mailbox.text(mail)
    assert (
        staff["s"].post(f"{stack.url}{STAFF}/{created['id']}/decision", json={"decision": "accept"}).status_code == 409
    )


def test_transitions_out_of_order_are_refused(stack, staff):
    created, _ = create(stack)
    decision = f"{stack.url}{STAFF}/{created['id']}/decision"
    r = staff["s"].post(decision, json={"decision": "accept"})  # still a draft
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"
    requests.post(f"{stack.url}{REQ}/{created['id']}/submit", json={}, headers=auth(created["token"]))
    r = requests.post(f"{stack.url}{REQ}/{created['id']}/submit", json={}, headers=auth(created["token"]))
    assert r.status_code == 409
    assert staff["s"].post(decision, json={"decision": "request_changes"}).status_code == 400  # no message
    assert staff["s"].post(decision, json={"decision": "approve"}).status_code == 400


def test_staff_routes_refuse_anyone_else(stack):
    created, _ = create(stack)
    aidant = stack.login(requests.Session(), stack.new_aidant())
    referent_sid = stack.seed["structure"]["id"]
    calls = [
        ("GET", STAFF),
        ("GET", f"{STAFF}/{created['id']}"),
        ("POST", f"{STAFF}/{created['id']}/decision"),
        ("POST", f"{STAFF}/{created['id']}/messages"),
        ("GET", "/api/staff/cards"),
        ("POST", "/api/staff/cards"),
        ("POST", "/api/staff/aidants/demo-aidant/training"),
    ]
    for method, path in calls:
        assert requests.request(method, stack.url + path, json={}).status_code == 401, path
        r = aidant.request(method, stack.url + path, json={"decision": "accept", "message": "x"})
        assert r.status_code == 403 and r.json()["error"] == "not_staff", path
    # The requester's token is no key to the staff side either.
    r = requests.get(f"{stack.url}{STAFF}/{created['id']}", headers=auth(created["token"]))
    assert r.status_code == 401
    assert referent_sid  # the seeded référent is no staff: covered by the aidant above


@pytest.mark.parametrize(
    "changes",
    [
        {"siret": "123"},
        {"siret": None},
        {"name": ""},
        {"name": "x" * 300},
        {"structure_type": "secte"},
        {"referent": "Rémi"},
        {"referent": {"first_name": "R", "last_name": "R", "email": "pas-un-email", "profession": "D"}},
        {"aidants": "Alice"},
        {"aidants": [{"first_name": "A"}]},
        {"aidants": [{}] * 51},
        {"referent_is_aidant": "oui"},
        {
            "aidants": [
                {"first_name": "A", "last_name": "B", "email": "same@test.fr", "profession": "C"},
                {"first_name": "D", "last_name": "E", "email": "same@test.fr", "profession": "F"},
            ]
        },
    ],
)
def test_malformed_requests_get_a_4xx_json_answer(stack, changes):
    r = requests.post(stack.url + REQ, json=form(**changes))
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["error"]


def test_malformed_bodies_and_staff_inputs_are_4xx(stack, staff):
    assert requests.post(stack.url + REQ, data="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.post(stack.url + REQ, data="a=b").status_code == 415
    assert requests.post(stack.url + REQ, json=[1, 2]).status_code == 400
    created, _ = create(stack)
    long = requests.post(
        f"{stack.url}{REQ}/{created['id']}/messages", json={"message": "x" * 5000}, headers=auth(created["token"])
    )
    assert long.status_code == 400
    s = staff["s"]
    for body in (
        {},
        {"cards": "A1,seed"},
        {"cards": []},
        {"csv": "A1"},
        {"cards": [{"serial": "X1"}] * 201},
        {"cards": [{"serial": "AB12", "seed": "00"}], "seed_encoding": "rot13"},
        {"cards": [{"serial": "AB12", "seed": "00"}], "structure_id": 4},
    ):
        r = s.post(stack.url + "/api/staff/cards", json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"]
    bad = s.post(stack.url + "/api/staff/cards", json={"cards": [{"serial": "AB12", "seed": "00"}]})
    assert bad.status_code == 200 and bad.json()["invalid"] and not bad.json()["imported"]
    for body in (
        {},
        {"trained_on": "hier", "pix_passed": True},
        {"trained_on": "2999-01-01", "pix_passed": True},
        {"trained_on": "2024-01-01", "pix_passed": "oui"},
    ):
        r = s.post(stack.url + "/api/staff/aidants/demo-aidant/training", json=body)
        assert r.status_code == 400, (body, r.text)
    assert (
        s.post(
            stack.url + "/api/staff/aidants/nobody/training", json={"trained_on": "2024-01-01", "pix_passed": True}
        ).status_code
        == 404
    )
    assert s.get(stack.url + STAFF, params={"status": "bidon"}).status_code == 400
    assert s.get(f"{stack.url}{STAFF}/nope").status_code == 404


def test_an_existing_aidant_listed_in_a_request_is_not_handed_to_the_new_structure(stack, staff):
    """Anyone can file a request: listing an existing aidant's e-mail must not give the
    new structure's référent any hold on that aidant (their card or app)."""
    victim = stack.new_aidant(first_name="Camille")
    data = form()
    data["aidants"][0]["email"] = victim
    created, _ = create(stack, data)
    url = f"{stack.url}{REQ}/{created['id']}"
    assert requests.post(url + "/submit", json={}, headers=auth(created["token"])).json()["status"] == "envoyee"
    r = staff["s"].post(f"{stack.url}{STAFF}/{created['id']}/decision", json={"decision": "accept"})
    assert r.status_code == 200, r.text
    new_structure = r.json()["structure_id"]
    stack.use_store()
    from shared import accounts
    from shared.store import Membership

    aidant = accounts.find_aidant_by_email(victim)
    assert new_structure not in aidant.structure_ids
    assert Membership.count(f"STRUCTURE#{new_structure}", Membership.sk == f"AIDANT#{aidant.id}") == 0
    # The other people of the request got their (inactive) accounts as usual.
    assert accounts.find_aidant_by_email(data["aidants"][1]["email"]) is not None


def test_training_recorded_as_incomplete_deactivates_an_active_aidant(stack, staff):
    """Being trained is a condition of being active: a correction (PIX not passed
    after all) takes the account down, and its live session with it."""
    email = stack.new_aidant(first_name="Paul")
    paul = stack.login(requests.Session(), email)
    assert paul.get(stack.url + "/api/me").status_code == 200
    stack.use_store()
    from shared import accounts

    aid = accounts.find_aidant_by_email(email).id
    r = staff["s"].post(
        f"{stack.url}/api/staff/aidants/{aid}/training", json={"trained_on": "2024-05-02", "pix_passed": False}
    )
    assert r.status_code == 200 and r.json()["complete"] is False and r.json()["is_active"] is False
    assert paul.get(stack.url + "/api/me").status_code == 401
    assert accounts.find_aidant_by_email(email).is_active is False
    # Staff cannot take their own access down this way.
    own = accounts.find_aidant_by_email(staff["email"]).id
    r = staff["s"].post(
        f"{stack.url}/api/staff/aidants/{own}/training", json={"trained_on": "2024-05-02", "pix_passed": False}
    )
    assert r.status_code == 409 and r.json()["error"] == "self_deactivation"


def test_changing_the_referents_address_counts_against_that_address(stack):
    """Otherwise: create with one's own address, change it to the victim's, submit,
    and repeat — the per-address limit would not hold."""
    victim = form()["referent"]
    for _ in range(3):
        create(stack, form(referent=victim))
    created, _ = create(stack)
    r = requests.put(f"{stack.url}{REQ}/{created['id']}", json=form(referent=victim), headers=auth(created["token"]))
    assert r.status_code == 429, r.text
