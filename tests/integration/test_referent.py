"""The Espace Responsable over HTTP through the local gateway, against DynamoDB Local:
each action, and each refusal (other structures, non-référents, unvalidated or
unlinked cards, deactivated aidants, malformed input)."""

import time

import pyotp
import pytest
import requests

from tests.conftest import Mailbox, extract_link

API = "/api/referent/structures"


# -- helpers ----------------------------------------------------------------------------


def new_card(stack, structure_id=None):
    """A card in stock (as staff's import leaves it); returns (serial, TOTP)."""
    stack.use_store()
    from shared import cards, crypto

    serial = "T" + crypto.new_id(8).upper().replace("-", "X").replace("_", "Y")
    seed = pyotp.random_base32(32)
    result = cards.import_cards(
        [{"serial": serial, "seed": seed}], encoding="base32", structure_id=structure_id, actor_id="test"
    )
    assert result.imported == [serial]
    return serial, pyotp.TOTP(seed, interval=60)


def at(totp, steps=0):
    return totp.at(time.time() + steps * totp.interval)


def aidant_id(stack, email):
    stack.use_store()
    from shared import accounts

    return accounts.find_aidant_by_email(email).id


def mark_trained(stack, email):
    stack.use_store()
    from shared.store import Training

    aid = aidant_id(stack, email)
    Training(*Training.key(aid), aidant_id=aid, trained_on="2024-02-01", pix_passed=True).save()


def login_with(stack, email, code, session=None):
    """Log in with a given code; returns the session, or the refused response."""
    session = session or requests.Session()
    before = stack.mail.count()
    r = session.post(stack.url + "/api/login", json={"email": email, "otp": code}, timeout=10)
    if r.status_code != 200:
        return r
    link = extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/")
    assert session.get(link, allow_redirects=False).status_code == 302
    return session


@pytest.fixture
def place(stack):
    """A fresh structure with a logged-in référent and an aidant without any device."""
    sid = stack.new_structure("Maison France Services de Test")
    ref = stack.new_aidant(sid, first_name="Rita", last_name="Référente", referent_of=[sid])
    aidant = stack.new_aidant(sid, first_name="Anne", last_name="Aidante", device_kind=None)
    session = stack.login(requests.Session(), ref)
    return {
        "sid": sid,
        "ref": ref,
        "aidant": aidant,
        "aid": aidant_id(stack, aidant),
        "s": session,
        "url": f"{stack.url}{API}/{sid}/aidants/{aidant_id(stack, aidant)}",
    }


def journal_actions(stack, structure_id):
    stack.use_store()
    from shared import journal

    return [e.action for e in journal.for_structure(structure_id)]


# -- seeing ------------------------------------------------------------------------------


def test_the_referent_sees_their_structures_and_each_aidant(stack, place):
    s, sid = place["s"], place["sid"]
    r = s.get(stack.url + API)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["referent"]["first_name"] == "Rita"
    mine = next(x for x in listed["structures"] if x["id"] == sid)
    assert mine["name"] == "Maison France Services de Test" and mine["siret"] == "1" * 14
    assert mine["address"] and mine["active_aidants"] == 2  # Rita (app) and Anne (active, no device)
    detail = s.get(f"{stack.url}{API}/{sid}").json()
    rows = {a["email"]: a for a in detail["aidants"]}
    assert detail["aidants"][0]["is_you"] is True  # the référent first
    assert rows[place["ref"]]["otp"] == "application" and rows[place["ref"]]["is_referent"]
    assert rows[place["aidant"]]["otp"] is None and rows[place["aidant"]]["name"] == "Anne Aidante"


def test_a_non_referent_cannot_reach_the_referent_api(stack, place):
    s = stack.login(requests.Session(), stack.new_aidant(place["sid"]))
    calls = [("GET", API), ("GET", f"{API}/{place['sid']}")] + [
        ("POST", f"{API}/{place['sid']}/aidants/{place['aid']}/{action}")
        for action in (
            "activate",
            "deactivate",
            "card",
            "card/validate",
            "card/unlink",
            "app",
            "app/confirm",
            "app/unlink",
        )
    ]
    for method, path in calls:
        r = s.request(method, stack.url + path, json={"serial": "X123", "otp": "123456"})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "not_referent"


def test_anonymous_callers_get_401(stack, place):
    r = requests.post(place["url"] + "/card", json={"serial": "X123"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_a_referent_of_a_can_do_nothing_in_b(stack, place):
    s = place["s"]
    other = stack.new_structure("Structure B")
    b_aidant = stack.new_aidant(other)
    b_id = aidant_id(stack, b_aidant)
    serial, _ = new_card(stack)
    assert s.get(f"{stack.url}{API}/{other}").status_code == 404
    for base in (
        f"{stack.url}{API}/{other}/aidants/{b_id}",  # B's path
        f"{stack.url}{API}/{place['sid']}/aidants/{b_id}",
    ):  # B's aidant through A
        for action in (
            "activate",
            "deactivate",
            "card",
            "card/validate",
            "card/unlink",
            "app",
            "app/confirm",
            "app/unlink",
        ):
            r = s.post(f"{base}/{action}", json={"serial": serial, "otp": "123456"})
            assert r.status_code == 404, (base, action, r.text)
    # B's aidant is untouched: still active, still only their own device.
    stack.use_store()
    from shared import referent

    file = referent.read_file(b_id)
    assert file.aidant.is_active and [d.device_kind for d in file.devices] == ["app"]


def test_a_card_reserved_for_another_structure_is_unknown_here(stack, place):
    serial, _ = new_card(stack, structure_id="some-other-structure")
    r = place["s"].post(place["url"] + "/card", json={"serial": serial})
    assert r.status_code == 404 and r.json()["error"] == "unknown_card"


# -- physical cards ------------------------------------------------------------------------


def test_link_and_validate_a_card_then_the_aidant_logs_in_with_it(stack, place):
    s, url = place["s"], place["url"]
    serial, totp = new_card(stack)
    r = s.post(url + "/card", json={"serial": serial.lower()})
    assert r.status_code == 201, r.text
    assert r.json()["device"] == {
        "id": r.json()["device"]["id"],
        "kind": "card",
        "serial": serial,
        "confirmed": False,
        "label": serial,
    }
    # Linked but not validated: the card cannot log in.
    refused = login_with(stack, place["aidant"], at(totp))
    assert refused.status_code == 401
    # A second card for the same aidant is refused while the first is linked.
    other_serial, _ = new_card(stack)
    assert s.post(url + "/card", json={"serial": other_serial}).status_code == 409
    r = s.post(url + "/card/validate", json={"otp": at(totp)})
    assert r.status_code == 200, r.text
    assert r.json()["device"]["confirmed"] is True
    assert s.post(url + "/card/validate", json={"otp": at(totp, 1)}).status_code == 409
    session = login_with(stack, place["aidant"], at(totp, 1))
    assert session.get(stack.url + "/api/me").json()["aidant"]["email"] == place["aidant"]
    row = next(a for a in s.get(f"{stack.url}{API}/{place['sid']}").json()["aidants"] if a["email"] == place["aidant"])
    assert row["otp"] == serial
    actions = journal_actions(stack, place["sid"])
    assert "otp_card_linked" in actions and "otp_device_confirmed" in actions


def test_a_wrong_validation_code_is_refused_and_the_card_stays_unusable(stack, place):
    s, url = place["s"], place["url"]
    serial, totp = new_card(stack)
    assert s.post(url + "/card", json={"serial": serial}).status_code == 201
    wrong = "000000" if at(totp) != "000000" else "111111"
    r = s.post(url + "/card/validate", json={"otp": wrong})
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"
    assert login_with(stack, place["aidant"], at(totp)).status_code == 401
    assert "otp_device_confirmation_failed" in journal_actions(stack, place["sid"])


def test_a_card_already_taken_cannot_be_linked_twice(stack, place):
    serial, _ = new_card(stack)
    assert place["s"].post(place["url"] + "/card", json={"serial": serial}).status_code == 201
    ref_id = aidant_id(stack, place["ref"])
    r = place["s"].post(f"{stack.url}{API}/{place['sid']}/aidants/{ref_id}/card", json={"serial": serial})
    assert r.status_code == 409 and r.json()["error"] == "card_taken"


def test_an_unlinked_cards_codes_are_refused(stack, place):
    s, url = place["s"], place["url"]
    serial, totp = new_card(stack)
    s.post(url + "/card", json={"serial": serial})
    assert s.post(url + "/card/validate", json={"otp": at(totp)}).status_code == 200
    r = s.post(url + "/card/unlink", json={"lost": True})
    assert r.status_code == 200 and r.json() == {"unlinked": serial, "card_status": "lost"}
    assert login_with(stack, place["aidant"], at(totp, 1)).status_code == 401
    # Lost for good: nobody may link it again.
    r = s.post(url + "/card", json={"serial": serial})
    assert r.status_code == 409 and r.json()["error"] == "card_lost"
    assert "otp_card_unlinked" in journal_actions(stack, place["sid"])


def test_a_referent_who_is_also_an_aidant_links_a_card_to_themselves(stack, place):
    s = place["s"]
    me = aidant_id(stack, place["ref"])
    serial, totp = new_card(stack)
    base = f"{stack.url}{API}/{place['sid']}/aidants/{me}"
    assert s.post(base + "/card", json={"serial": serial}).status_code == 201
    assert s.post(base + "/card/validate", json={"otp": at(totp)}).status_code == 200
    assert s.get(stack.url + API).json()["referent"]["has_confirmed_card"] is True
    assert login_with(stack, place["ref"], at(totp, 1)).get(stack.url + "/api/me").status_code == 200


# -- phone app ---------------------------------------------------------------------------


def test_app_enrolment_by_qr_code_then_login_with_the_app(stack, place):
    s, url = place["s"], place["url"]
    r = s.post(url + "/app", json={})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["qr_svg"].startswith("<svg") and body["qr_svg_data_uri"].startswith("data:image/svg+xml")
    assert body["otpauth_uri"].startswith("otpauth://totp/") and "issuer=Aidants%20Connect" in body["otpauth_uri"]
    totp = pyotp.TOTP(body["secret"])
    assert login_with(stack, place["aidant"], totp.now()).status_code == 401  # not confirmed yet
    detail = s.get(f"{stack.url}{API}/{place['sid']}").text
    assert body["secret"] not in detail  # shown once, never again
    assert s.post(url + "/app/confirm", json={"otp": "12345"}).status_code == 403
    assert s.post(url + "/app/confirm", json={"otp": totp.now()}).status_code == 200
    assert s.post(url + "/app", json={}).status_code == 409  # confirmed: unlink first
    session = login_with(stack, place["aidant"], totp.at(time.time() + 30))
    assert session.get(stack.url + "/api/me").status_code == 200
    assert s.post(url + "/app/unlink", json={}).status_code == 200
    assert login_with(stack, place["aidant"], totp.at(time.time() + 60)).status_code == 401


# -- activation ----------------------------------------------------------------------------


def test_a_deactivated_aidants_live_session_stops_at_the_next_request(stack, place):
    s = place["s"]
    email = stack.new_aidant(place["sid"], first_name="Dany")
    victim = stack.login(requests.Session(), email)
    assert victim.get(stack.url + "/api/me").status_code == 200
    base = f"{stack.url}{API}/{place['sid']}/aidants/{aidant_id(stack, email)}"
    r = s.post(base + "/deactivate", json={})
    assert r.status_code == 200 and r.json()["is_active"] is False and r.json()["sessions_ended"] == 1
    r = victim.get(stack.url + "/api/me")
    assert r.status_code == 401
    assert login_with(stack, email, stack.otp(email, 1)).status_code == 401
    # Reactivation needs the training mark (the app is confirmed already).
    r = s.post(base + "/activate", json={})
    assert r.status_code == 409 and r.json()["error"] == "not_ready"
    mark_trained(stack, email)
    assert s.post(base + "/activate", json={}).status_code == 200
    assert login_with(stack, email, stack.otp(email, 1)).get(stack.url + "/api/me").status_code == 200
    actions = journal_actions(stack, place["sid"])
    assert "aidant_deactivated" in actions and "aidant_activated" in actions


def test_a_referent_cannot_deactivate_themselves(stack, place):
    me = aidant_id(stack, place["ref"])
    r = place["s"].post(f"{stack.url}{API}/{place['sid']}/aidants/{me}/deactivate", json={})
    assert r.status_code == 409 and r.json()["error"] == "self_deactivation"


def test_validating_the_card_of_a_trained_inactive_aidant_activates_them(stack, place):
    email = stack.new_aidant(place["sid"], is_active=False, device_kind=None)
    mark_trained(stack, email)
    base = f"{stack.url}{API}/{place['sid']}/aidants/{aidant_id(stack, email)}"
    serial, totp = new_card(stack)
    place["s"].post(base + "/card", json={"serial": serial})
    r = place["s"].post(base + "/card/validate", json={"otp": at(totp)})
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert login_with(stack, email, at(totp, 1)).get(stack.url + "/api/me").status_code == 200


# -- several structures --------------------------------------------------------------------


def test_an_aidant_of_two_structures_switches_and_what_they_see_follows(stack, place):
    second = stack.new_structure("Seconde structure")
    email = stack.new_aidant(place["sid"])
    stack.use_store()
    from shared.store import Aidant, Membership

    aid = aidant_id(stack, email)
    Membership(f"STRUCTURE#{second}", f"AIDANT#{aid}", structure_id=second, aidant_id=aid).save()
    Aidant(*Aidant.key(aid)).update(actions=[Aidant.structure_ids.add({second})])
    s = stack.login(requests.Session(), email)
    assert s.get(stack.url + "/api/me").json()["structure"]["id"] == place["sid"]
    r = s.post(stack.url + "/api/session/structure", json={"structure_id": second})
    assert r.status_code == 200 and r.json()["structure"]["name"] == "Seconde structure"
    me = s.get(stack.url + "/api/me").json()
    assert me["structure"]["id"] == second and {x["id"] for x in me["structures"]} == {place["sid"], second}
    # Not one of theirs: refused, and the session keeps its structure.
    other = stack.new_structure("Pas la sienne")
    assert s.post(stack.url + "/api/session/structure", json={"structure_id": other}).status_code == 404
    assert s.get(stack.url + "/api/me").json()["structure"]["id"] == second
    # Deactivated in the first structure only: the session acting for the second goes on,
    # and the first is no longer among their structures.
    r = place["s"].post(f"{stack.url}{API}/{place['sid']}/aidants/{aid}/deactivate", json={})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 0
    me = s.get(stack.url + "/api/me").json()
    assert me["structure"]["id"] == second and [x["id"] for x in me["structures"]] == [second]
    assert "structure_switched" in journal_actions(stack, second)


# -- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix,kwargs",
    [
        ("/card", {"data": "not json", "headers": {"Content-Type": "application/json"}}),
        ("/card", {"data": "serial=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
        ("/card", {"json": ["serial"]}),
        ("/card", {"json": {}}),
        ("/card", {"json": {"serial": 12}}),
        ("/card", {"json": {"serial": "x" * 500}}),
        ("/card", {"json": {"serial": "../../etc"}}),
        ("/card", {"json": {"serial": "A" * 70000}}),
        ("/card/validate", {"json": {"otp": None}}),
        ("/card/unlink", {"json": {"lost": "oui"}}),
        ("/app/confirm", {"json": {"otp": ["1"]}}),
        ("/nothing-here", {"json": {}}),
    ],
)
def test_malformed_input_gets_a_4xx_json_answer(stack, place, suffix, kwargs):
    r = place["s"].post(place["url"] + suffix, **kwargs)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["error"]


def test_malformed_structure_switch_is_4xx(stack, place):
    for body in ({}, {"structure_id": 3}, {"structure_id": "x" * 300}):
        r = place["s"].post(stack.url + "/api/session/structure", json=body)
        assert r.status_code in (400, 404) and r.json()["error"]


# -- an aidant shared between structures ---------------------------------------------------


def test_a_referent_cannot_change_the_devices_of_an_aidant_of_another_structure_too(stack, place):
    """The référent of a newly accredited structure must not take over an aidant who
    also works elsewhere: their card or app is how they log in everywhere."""
    other = stack.new_structure("Structure où l'aidant travaille aussi")
    email = stack.new_aidant(other)  # has a working app in `other`
    stack.use_store()
    from shared.store import Aidant, Membership

    aid = aidant_id(stack, email)
    Membership(f"STRUCTURE#{place['sid']}", f"AIDANT#{aid}", structure_id=place["sid"], aidant_id=aid).save()
    Aidant(*Aidant.key(aid)).update(actions=[Aidant.structure_ids.add({place["sid"]})])
    url = f"{stack.url}{API}/{place['sid']}/aidants/{aid}"
    for suffix in ("/app/unlink", "/app", "/card/unlink"):
        r = place["s"].post(url + suffix, json={"lost": False} if "card" in suffix else {})
        assert r.status_code == 403 and r.json()["error"] == "shared_aidant", (suffix, r.text)
    serial, _ = new_card(stack, place["sid"])
    r = place["s"].post(url + "/card", json={"serial": serial})
    assert r.status_code == 403 and r.json()["error"] == "shared_aidant"
    assert login_with(stack, email, stack.otp(email)).get(stack.url + "/api/me").status_code == 200
