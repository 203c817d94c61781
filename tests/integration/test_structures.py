"""Aidants who work for several structures, over HTTP through the gateway against
DynamoDB Local: invitations (an aidant already, a newcomer; expiry, withdrawal, the
invited address only), the structure switch, deactivation per structure, and the
isolation across a switch, written as an attacker would try it (stale cookies, forged
structure ids, a draft started or a FranceConnect transaction opened before the
switch, another tab)."""

from __future__ import annotations

import time

import requests

from tests.conftest import Mailbox, extract_link
from tests.integration.mandate_flow import new_aidant
from tests.integration.oidc_fc import new_usager_with_mandate, register_client

API = "/api/referent/structures"


# -- helpers ----------------------------------------------------------------------------


class Referent:
    def __init__(self, stack, *structure_ids: str):
        self.stack = stack
        self.email = stack.new_aidant(
            structure_ids[0], first_name="Rita", last_name="Référente", referent_of=list(structure_ids)
        )
        self.session = stack.login(requests.Session(), self.email)

    def post(self, path: str, body=None) -> requests.Response:
        return self.session.post(self.stack.url + path, json={} if body is None else body, timeout=10)

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.stack.url + path, timeout=10)

    def invite(self, structure_id: str, email: str, **names) -> str:
        r = self.post(f"{API}/{structure_id}/invitations", {"email": email, **names})
        assert r.status_code == 201, r.text
        return r.json()["invitation"]


def join(stack, aidant, structure_id: str, referent: Referent) -> str:
    """The aidant joins ``structure_id`` the only way there is: invited, then accepting
    with their code."""
    invitation = referent.invite(structure_id, aidant.email)
    r = aidant.post(f"/api/invitations/{invitation}/accept", {"otp": aidant.code()})
    assert r.status_code == 200, r.text
    return invitation


def relogin(stack, aidant) -> None:
    """A new login in a new browser, with a code no request used yet."""
    aidant.session = requests.Session()
    before = stack.mail.count()
    r = aidant.post("/api/login", {"email": aidant.email, "otp": aidant.code()})
    assert r.status_code == 200, r.text
    link = extract_link(Mailbox.text(stack.mail.wait_for(aidant.email, "connexion", after=before)), "/api/login/")
    assert aidant.session.get(link, allow_redirects=False, timeout=10).status_code == 302


def switch(aidant, structure_id: str) -> requests.Response:
    return aidant.post("/api/session/structure", {"structure": structure_id})


def journal_actions(stack, structure_id: str) -> list[str]:
    stack.use_store()
    from shared import journal

    return [e.action for e in journal.for_structure(structure_id)]


def two_places(stack):
    """An aidant of a France Services who also works at a médiathèque (joined by
    invitation), logged in and acting for the France Services."""
    home = stack.new_structure("France Services de Soissons")
    other = stack.new_structure("Médiathèque de Laon")
    aidant = new_aidant(stack, home)
    referent = Referent(stack, other)
    join(stack, aidant, other, referent)
    return home, other, aidant, referent


# -- invitations ------------------------------------------------------------------------


def test_an_aidant_of_another_structure_accepts_an_invitation_with_their_code_and_keeps_one_account(stack):
    home = stack.new_structure("France Services de Soissons")
    other = stack.new_structure("Médiathèque de Laon")
    aidant = new_aidant(stack, home)
    referent = Referent(stack, other)
    before = stack.mail.count()
    # The address as the référent typed it: compared in its normal form.
    invitation = referent.invite(other, aidant.email.upper())
    mail = stack.mail.wait_for(aidant.email, "Invitation à rejoindre Médiathèque de Laon", after=before)
    body = mail.get_body(("plain",)).get_content()
    assert "Rita Référente vous invite" in body and "/connexion/?next=/espace-aidant/" in body

    me = aidant.get("/api/me").json()
    assert [(i["id"], i["structure"]) for i in me["invitations"]] == [
        (invitation, {"id": other, "name": "Médiathèque de Laon"})
    ]
    assert [s["id"] for s in me["structures"]] == [home]

    r = aidant.post(f"/api/invitations/{invitation}/accept", {"otp": "000000"})
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"
    r = aidant.post(f"/api/invitations/{invitation}/accept", {"otp": aidant.code()})
    assert r.status_code == 200, r.text
    assert r.json()["structure"] == {"id": other, "name": "Médiathèque de Laon"}

    me = aidant.get("/api/me").json()
    assert me["invitations"] == []
    assert {(s["id"], s["current"]) for s in me["structures"]} == {(home, True), (other, False)}
    assert me["structure"]["id"] == home  # joining does not switch: the aidant picks
    r = switch(aidant, other)
    assert r.status_code == 200 and r.json()["structure"]["name"] == "Médiathèque de Laon"
    me = aidant.get("/api/me").json()
    assert me["structure"]["id"] == other and {s["id"] for s in me["structures"] if s["current"]} == {other}

    # One account, the same device: no second aidant, no new TOTP device.
    stack.use_store()
    from shared import accounts, otp

    found = accounts.find_aidant_by_email(aidant.email)
    assert found.id == aidant.id and found.structure_ids == {home, other}
    assert len(otp.devices_of(aidant.id)[1]) == len(aidant.devices)
    assert (
        aidant.post(f"/api/invitations/{invitation}/accept", {"otp": aidant.code()}).json()["error"]
        == "invitation_ended"
    )
    actions = journal_actions(stack, other)
    assert {"invitation_sent", "invitation_accepted", "structure_switched"} <= set(actions)


def test_an_invitation_cannot_be_used_by_anyone_but_the_invited_address(stack):
    home = stack.new_structure("France Services de Soissons")
    other = stack.new_structure("Médiathèque de Laon")
    invitee, intruder = new_aidant(stack, home), new_aidant(stack, home)
    invitation = Referent(stack, other).invite(other, invitee.email)
    assert intruder.get("/api/me").json()["invitations"] == []
    r = intruder.post(f"/api/invitations/{invitation}/accept", {"otp": intruder.code()})
    assert r.status_code == 404 and r.json()["error"] == "invitation_not_found"
    assert switch(intruder, other).status_code == 404
    for forged in ("x" * 300, "does-not-exist", invitation + "x"):
        r = intruder.post(f"/api/invitations/{forged}/accept", {"otp": intruder.code()})
        assert r.status_code == 404, r.text
    r = invitee.post(f"/api/invitations/{invitation}/accept", {"otp": invitee.code()})
    assert r.status_code == 200, r.text


def test_a_withdrawn_or_expired_invitation_cannot_be_accepted(stack):
    home = stack.new_structure("France Services de Soissons")
    other = stack.new_structure("Médiathèque de Laon")
    aidant = new_aidant(stack, home)
    referent = Referent(stack, other)
    withdrawn = referent.invite(other, aidant.email)
    listed = referent.get(f"{API}/{other}/invitations").json()["invitations"]
    assert [(i["id"], i["email"]) for i in listed] == [(withdrawn, aidant.email)]
    r = referent.post(f"{API}/{other}/invitations/{withdrawn}/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert referent.get(f"{API}/{other}/invitations").json()["invitations"] == []
    assert aidant.get("/api/me").json()["invitations"] == []
    r = aidant.post(f"/api/invitations/{withdrawn}/accept", {"otp": aidant.code()})
    assert r.status_code == 410 and r.json()["error"] == "invitation_withdrawn"
    assert referent.post(f"{API}/{other}/invitations/{withdrawn}/withdraw").status_code == 409

    expired = referent.invite(other, aidant.email)
    stack.use_store()
    from shared.store import Invitation

    Invitation(*Invitation.key(expired)).update(actions=[Invitation.expires_at.set(int(time.time()) - 1)])
    assert aidant.get("/api/me").json()["invitations"] == []
    assert referent.get(f"{API}/{other}/invitations").json()["invitations"] == []
    r = aidant.post(f"/api/invitations/{expired}/accept", {"otp": aidant.code()})
    assert r.status_code == 410 and r.json()["error"] == "invitation_expired"
    assert switch(aidant, other).status_code == 404
    assert "invitation_withdrawn" in journal_actions(stack, other)


def test_a_newcomer_is_invited_into_the_existing_activation_path(stack):
    place = stack.new_structure("CCAS de Vailly")
    referent = Referent(stack, place)
    email = f"nouvelle-{time.time_ns()}@test.aidantsconnect.fr"
    r = referent.post(f"{API}/{place}/invitations", {"email": email})
    assert r.status_code == 400 and r.json()["field"] == "first_name"
    before = stack.mail.count()
    referent.invite(place, email, first_name="Nora", last_name="Nouvelle", profession="Médiatrice")
    body = stack.mail.wait_for(email, "Bienvenue", after=before).get_body(("plain",)).get_content()
    assert "CCAS de Vailly" in body and "formation" in body
    detail = referent.get(f"{API}/{place}").json()
    (nora,) = [a for a in detail["aidants"] if a["email"] == email]
    assert nora["name"] == "Nora Nouvelle" and nora["is_active"] is False
    assert set(nora["activation_blockers"]) == {"training", "device"}
    assert referent.get(f"{API}/{place}/invitations").json()["invitations"] == []  # nothing to accept
    # A second invitation of the same person: already in the list.
    r = referent.post(f"{API}/{place}/invitations", {"email": email})
    assert r.status_code == 409 and r.json()["error"] == "already_member"
    # The activation path: the référent enrols the app, confirms it, staff's training mark.
    import pyotp

    base = f"{API}/{place}/aidants/{nora['id']}"
    enrolment = referent.post(base + "/app").json()
    totp = pyotp.TOTP(enrolment["secret"], interval=enrolment["interval"])
    assert referent.post(base + "/app/confirm", {"otp": totp.now()}).status_code == 200
    stack.use_store()
    from shared.store import Training

    Training(*Training.key(nora["id"]), aidant_id=nora["id"], trained_on="2024-02-01", pix_passed=True).save()
    assert referent.post(base + "/activate").json()["is_active"] is True
    assert "invitation_sent" in journal_actions(stack, place)


def test_invitations_are_refused_to_whoever_does_not_manage_the_structure_and_for_bad_input(stack):
    place, elsewhere = stack.new_structure("CCAS de Vailly"), stack.new_structure("Ailleurs")
    referent = Referent(stack, place)
    member = new_aidant(stack, place)
    r = member.post(f"{API}/{place}/invitations", {"email": "x@test.aidantsconnect.fr"})
    assert r.status_code == 403 and r.json()["error"] == "not_referent"
    r = referent.post(f"{API}/{elsewhere}/invitations", {"email": member.email})
    assert r.status_code == 404
    for body in ({}, {"email": "pas une adresse"}, {"email": "a@b.fr, c@d.fr"}, {"email": ["a@b.fr"]}):
        r = referent.post(f"{API}/{place}/invitations", body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_email", r.text
    r = referent.post(f"{API}/{place}/invitations", {"email": "new@test.fr", "first_name": "A" * 300, "last_name": "B"})
    assert r.status_code == 400 and r.json()["field"] == "first_name"
    r = referent.post(f"{API}/{place}/invitations", {"email": member.email})
    assert r.status_code == 409 and r.json()["error"] == "already_member"
    outsider = new_aidant(stack)
    referent.invite(place, outsider.email)
    r = referent.post(f"{API}/{place}/invitations", {"email": outsider.email})
    assert r.status_code == 409 and r.json()["error"] == "already_invited"
    r = requests.post(f"{stack.url}{API}/{place}/invitations", json={"email": outsider.email}, timeout=10)
    assert r.status_code == 401
    r = referent.post(f"{API}/{elsewhere}/invitations/whatever/withdraw")
    assert r.status_code == 404


def test_after_login_an_aidant_of_several_structures_picks_the_one_they_act_for(stack):
    home, other, aidant, _ = two_places(stack)
    for next_path, expected in (
        (None, "/choisir-structure/?next=%2Fespace-aidant%2F"),
        ("/fi/?txn=abc", "/choisir-structure/?next=%2Ffi%2F%3Ftxn%3Dabc"),
    ):
        browser = requests.Session()
        before = stack.mail.count()
        body = {"email": aidant.email, "otp": aidant.code(), **({"next": next_path} if next_path else {})}
        assert browser.post(stack.url + "/api/login", json=body, timeout=10).status_code == 200
        link = extract_link(Mailbox.text(stack.mail.wait_for(aidant.email, "connexion", after=before)), "/api/login/")
        r = browser.get(link, allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == expected
    # One structure: where they were going, as before.
    single = new_aidant(stack, home)
    relogin(stack, single)
    assert single.get("/api/me").json()["structures"] == [
        {
            "id": home,
            "name": "France Services de Soissons",
            "siret": "11111111111111",
            "address": "1 rue de la Paix, 75002 Paris",
            "current": True,
        }
    ]


# -- per structure ------------------------------------------------------------------------


def test_a_referent_deactivates_an_aidant_for_their_structure_only(stack):
    home, other, aidant, referent = two_places(stack)
    assert switch(aidant, other).status_code == 200
    r = referent.post(f"{API}/{other}/aidants/{aidant.id}/deactivate")
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1  # the session acting for `other`
    assert aidant.get("/api/me").status_code == 401
    # They keep the France Services: a new login acts for it.
    relogin(stack, aidant)
    me = aidant.get("/api/me").json()
    assert me["structure"]["id"] == home and [s["id"] for s in me["structures"]] == [home]
    assert switch(aidant, other).status_code == 404
    assert "aidant_deactivated" in journal_actions(stack, other)


def test_a_referent_of_several_structures_manages_each(stack):
    home = stack.new_structure("France Services de Soissons")
    other = stack.new_structure("Médiathèque de Laon")
    both = Referent(stack, home, other)
    aidant = new_aidant(stack, home)
    join(stack, aidant, other, both)
    listed = {s["id"]: s["active_aidants"] for s in both.get(API).json()["structures"]}
    assert set(listed) == {home, other}
    for sid in (home, other):
        assert aidant.id in [a["id"] for a in both.get(f"{API}/{sid}").json()["aidants"]]
    # This référent manages both of the aidant's structures: the device is theirs to
    # change (past the authority check, the app enrolment meets the confirmed app).
    r = both.post(f"{API}/{other}/aidants/{aidant.id}/app")
    assert r.status_code == 409 and r.json()["error"] == "already_has_app"
    r = both.post(f"{API}/{home}/aidants/{aidant.id}/deactivate")
    assert r.status_code == 200
    me = aidant.get("/api/me")
    assert me.status_code == 401  # that session acted for `home`
    statuses = {
        sid: [a for a in both.get(f"{API}/{sid}").json()["aidants"] if a["id"] == aidant.id][0]["is_active"]
        for sid in (home, other)
    }
    assert statuses == {home: False, other: True}


def test_only_someone_with_authority_over_all_of_an_aidants_structures_changes_their_device(stack):
    home, other, aidant, referent = two_places(stack)
    url = f"{API}/{other}/aidants/{aidant.id}"
    for suffix in ("/app", "/app/unlink", "/card/unlink"):
        r = referent.post(url + suffix, {"lost": False} if "card" in suffix else {})
        assert r.status_code == 403 and r.json()["error"] == "shared_aidant", (suffix, r.text)


# -- isolation across a switch (as an attacker would try it) --------------------------------


def test_a_stale_cookie_from_before_the_switch_is_refused(stack):
    home, other, aidant, _ = two_places(stack)
    stale = aidant.session.cookies.get("ac_session")
    assert switch(aidant, other).status_code == 200
    fresh = aidant.session.cookies.get("ac_session")
    assert fresh != stale and fresh.split(".")[1] == other
    r = requests.get(stack.url + "/api/mandates", cookies={"ac_session": stale}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "session_expired"
    r = requests.post(
        stack.url + "/api/session/structure", cookies={"ac_session": stale}, timeout=10, json={"structure": home}
    )
    assert r.status_code == 401
    assert aidant.get("/api/me").json()["structure"]["id"] == other


def test_a_forged_structure_id_reaches_nothing(stack):
    home, other, aidant, _ = two_places(stack)
    stranger = stack.new_structure("Pas la sienne")
    cookie = aidant.session.cookies.get("ac_session")
    aid, sid, random = cookie.split(".")
    for forged in (f"{aid}.{stranger}.{random}", f"{aid}.{other}.{random}"):
        r = requests.get(stack.url + "/api/mandates", cookies={"ac_session": forged}, timeout=10)
        assert r.status_code == 401, forged
    for body in (
        {"structure": stranger},
        {"structure": [other]},
        {"structure": other + " "},
        {"structure_id": stranger},
        {"structure": "x" * 300},
    ):
        r = aidant.post("/api/session/structure", body)
        assert r.status_code in (400, 404), (body, r.text)
    assert aidant.get("/api/me").json()["structure"]["id"] == home
    # A structure closed since: not switchable either.
    stack.use_store()
    from shared.store import Structure

    Structure(*Structure.key(other)).update(actions=[Structure.is_active.set(False)])
    try:
        assert switch(aidant, other).status_code == 404
    finally:
        Structure(*Structure.key(other)).update(actions=[Structure.is_active.set(True)])


def test_lists_and_mandates_follow_the_current_structure(stack):
    home, other, aidant, _ = two_places(stack)
    home_mandate = aidant.create_mandate(["papiers"])
    assert switch(aidant, other).status_code == 200
    other_mandate = aidant.create_mandate(["famille"], identity="pierre")
    assert [m["id"] for m in aidant.get("/api/mandates").json()["mandates"]] == [other_mandate]
    assert aidant.get(f"/api/mandates/{home_mandate}").status_code == 404
    assert aidant.get(f"/api/mandates/{home_mandate}/print").status_code == 404
    r = aidant.revoke(home_mandate)
    assert r.status_code == 404
    assert switch(aidant, home).status_code == 200
    assert [m["id"] for m in aidant.get("/api/mandates").json()["mandates"]] == [home_mandate]
    assert aidant.get(f"/api/mandates/{other_mandate}").status_code == 404
    stack.use_store()
    from shared import mandates

    assert mandates.load(home_mandate)[0].structure_id == home
    assert mandates.load(other_mandate)[0].structure_id == other


def test_a_draft_started_before_the_switch_cannot_be_signed_or_previewed_for_the_other_structure(stack):
    home, other, aidant, _ = two_places(stack)
    draft = aidant.new_draft(["papiers"])
    assert "error" not in aidant.identify(draft["franceconnect_url"])
    # Another tab switches; this tab still shows the recap of the France Services.
    assert switch(aidant, other).status_code == 200
    for r in (
        aidant.get(f"/api/mandates/drafts/{draft['draft']}"),
        aidant.get(f"/api/mandates/drafts/{draft['draft']}/print"),
        aidant.sign(draft["draft"]),
    ):
        assert r.status_code == 409 and r.json()["error"] == "structure_switched", r.text
        assert r.json()["structure"] == {"id": home, "name": "France Services de Soissons"}
    assert aidant.get("/api/mandates").json()["mandates"] == []
    # Back on the France Services, the draft is signed there, for it.
    assert switch(aidant, home).status_code == 200
    r = aidant.sign(draft["draft"])
    assert r.status_code == 201, r.text
    stack.use_store()
    from shared import mandates

    assert mandates.load(r.json()["mandate"])[0].structure_id == home
    # Another aidant cannot even learn the draft exists.
    stranger = new_aidant(stack, home)
    assert stranger.get(f"/api/mandates/drafts/{draft['draft']}").status_code == 404


def test_a_transaction_opened_before_the_switch_cannot_be_completed_for_the_other_structure(stack):
    home, other, aidant, _ = two_places(stack)
    home_usager, _ = new_usager_with_mandate(stack, home, aidant.id, demarches=("papiers",))
    other_usager, _ = new_usager_with_mandate(stack, other, aidant.id, demarches=("famille",))
    fc = register_client(stack)
    pending = fc.authorize(aidant.session)
    txn = pending.txn
    offer = aidant.get(f"/api/fi/transactions/{txn}").json()
    assert offer["structure"] == {"id": home, "name": "France Services de Soissons"}
    assert [u["id"] for u in offer["usagers"]] == [home_usager]
    # Another tab switches to the médiathèque while this page shows the France Services' usagers.
    assert switch(aidant, other).status_code == 200
    choice = {"usager": home_usager, "demarche": "papiers"}
    r = aidant.post(f"/api/fi/transactions/{txn}", {**choice, "structure": home})
    assert r.status_code == 409 and r.json()["error"] == "structure_switched"
    assert r.json()["structure"] == {"id": other, "name": "Médiathèque de Laon"}
    # Without the structure the page showed: the France Services' mandate does not
    # cover anything for the médiathèque.
    r = aidant.post(f"/api/fi/transactions/{txn}", choice)
    assert r.status_code == 403 and r.json()["error"] == "no_active_mandate"
    # The offer now is the médiathèque's, and a choice among it goes through, for it.
    offer = aidant.get(f"/api/fi/transactions/{txn}").json()
    assert offer["structure"]["id"] == other and [u["id"] for u in offer["usagers"]] == [other_usager]
    r = aidant.post(f"/api/fi/transactions/{txn}", {"usager": other_usager, "demarche": "famille", "structure": other})
    assert r.status_code == 200 and "code=" in r.json()["redirect_to"], r.text
    stack.use_store()
    from shared import journal

    refusals = [e for e in journal.for_aidant(aidant.id) if e.action == "oidc_refused"]
    assert {e.reason for e in refusals} >= {"structure_switched", "not_covered_by_mandate"}
    acted = {(e.usager_id, e.action) for e in journal.for_structure(other) if e.action != "oidc_refused"}
    assert (other_usager, "oidc_code_issued") in acted and not {u for u, _ in acted} & {home_usager}


def test_what_me_and_the_switch_cost_in_store_calls_does_not_grow_with_invitations(stack):
    """GET /api/me reads the session with its aidant and structure (one BatchGet), the
    aidant's structures (one BatchGet) and the pending invitations (one Query)."""
    home = stack.new_structure("France Services de Soissons")
    aidant = new_aidant(stack, home)
    costs = []
    for count in (0, 6):
        for _ in range(count):
            inviting = stack.new_structure("Structure qui invite")
            Referent(stack, inviting).invite(inviting, aidant.email)
        r = aidant.get("/api/me")
        assert len(r.json()["invitations"]) == count
        costs.append(int(r.headers["X-Store-Calls"]))
    assert costs[0] == costs[1] and costs[0] <= 4, costs
    other = r.json()["invitations"][0]["structure"]["id"]
    invitation = r.json()["invitations"][0]["id"]
    r = aidant.post(f"/api/invitations/{invitation}/accept", {"otp": aidant.code()})
    accept = int(r.headers["X-Store-Calls"])
    assert r.status_code == 200 and accept <= 9, accept
    r = switch(aidant, other)
    switching = int(r.headers["X-Store-Calls"])
    assert r.status_code == 200 and switching <= 4, switching
    print(f"store calls: GET /api/me {costs[0]}, accept {accept}, switch {switching}")
