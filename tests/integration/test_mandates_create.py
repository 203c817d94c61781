"""Creating a mandate through the gateway: draft, FranceConnect, recap, signature."""

import threading
import time

import pyotp
import pytest
import requests

from tests.integration.mandate_flow import landing, new_aidant, query_of


def test_present_mandate_is_created_through_franceconnect(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers", "transports"], duration="long")
    assert draft["franceconnect_url"].startswith(stack.url + "/franceconnect/authorize?")
    params = query_of(draft["franceconnect_url"])
    assert params["acr_values"] == "eidas1" and params["state"] and params["nonce"]
    assert set(params["scope"].split()) == {
        "openid",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
        "preferred_username",
    }
    assert "login_hint" not in params

    location = aidant.identify(draft["franceconnect_url"], "angela")
    # Back through FranceConnect's logout, which returns the draft as its state.
    assert location == f"{stack.url}/mandats/recapitulatif/?state={draft['draft']}"

    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["status"] == "ready"
    assert recap["usager"]["full_name"] == "Angela Claire Louise DUBOIS"
    assert recap["usager"]["given_name"] == "Angela Claire Louise"
    assert [d["title"] for d in recap["demarches"]] == ["Papiers - Citoyenneté - Élections", "Transports - Mobilité"]
    assert recap["duration"] == "long" and recap["duration_label"] == "1 an" and recap["expires_at"]
    assert recap["is_remote"] is False and recap["remote_consent"] is None
    assert "Maison France Services de Test" in recap["mentions"]["intro"]

    r = aidant.sign(draft["draft"])
    assert r.status_code == 201, r.text
    mandate = aidant.get(f"/api/mandates/{r.json()['mandate']}").json()
    assert mandate["status"] == "active" and mandate["is_remote"] is False
    assert mandate["usager_name"] == "Angela Claire Louise DUBOIS"
    assert mandate["active_demarches"] == ["papiers", "transports"]
    assert [a["status"] for a in mandate["autorisations"]] == ["active", "active"]

    stack.use_store()
    from shared import journal, mandates

    stored, _ = mandates.load(mandate["id"])
    assert "Les aidants habilités par Maison France Services de Test doivent" in stored.text_snapshot
    actions = [e.action for e in journal.for_structure(aidant.structure_id)]
    assert actions.count("mandate_created") == 1 and "usager_identified" in actions
    assert sorted(a.demarche for a in mandates.active_autorisations_of_structure(aidant.structure_id)) == [
        "papiers",
        "transports",
    ]


def test_remote_mandate_needs_the_consent_proof_and_its_confirmation(stack):
    aidant = new_aidant(stack)
    r = aidant.post("/api/mandates/drafts", {"demarches": ["social"], "duration": "six_months", "is_remote": True})
    assert r.status_code == 400 and r.json()["error"] == "remote_consent_required"

    draft = aidant.new_draft(
        ["social"],
        duration="six_months",
        remote=True,
        consent={"method": "email", "reference": "Courriel du 3 mars, 10h12"},
    )
    aidant.identify(draft["franceconnect_url"], "fatou")
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["is_remote"] is True
    assert recap["remote_consent"] == {"method": "email", "reference": "Courriel du 3 mars, 10h12"}

    r = aidant.post("/api/mandates", {"draft": draft["draft"], "otp": "000000", "usager_informed": True})
    assert r.status_code == 400 and r.json()["error"] == "remote_consent_not_kept"
    r = aidant.sign(draft["draft"], remote=True)
    assert r.status_code == 201, r.text
    mandate = aidant.get(f"/api/mandates/{r.json()['mandate']}").json()
    assert mandate["is_remote"] is True and mandate["duration"] == "six_months"
    assert mandate["remote_consent"]["method"] == "email"
    assert mandate["usager"]["family_name"] == "DIALLO"


def test_renewal_replaces_only_the_overlapping_demarche(stack):
    aidant = new_aidant(stack)
    first = aidant.create_mandate(["papiers", "argent"])
    second = aidant.create_mandate(["argent", "logement"])

    old = aidant.get(f"/api/mandates/{first}").json()
    assert old["status"] == "active" and old["active_demarches"] == ["papiers"]
    by_demarche = {a["demarche"]: a for a in old["autorisations"]}
    assert by_demarche["argent"]["status"] == "replaced" and by_demarche["argent"]["replaced_by"] == second
    assert by_demarche["papiers"]["status"] == "active"
    new = aidant.get(f"/api/mandates/{second}").json()
    assert new["active_demarches"] == ["argent", "logement"]

    stack.use_store()
    from shared import mandates

    offered = {(a.demarche, a.mandate_id) for a in mandates.active_autorisations_of_structure(aidant.structure_id)}
    assert offered == {("papiers", first), ("argent", second), ("logement", second)}


def test_a_signed_draft_is_not_signed_twice(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["justice"])
    aidant.identify(draft["franceconnect_url"])
    assert aidant.sign(draft["draft"]).status_code == 201
    r = aidant.sign(draft["draft"])
    assert r.status_code == 409 and r.json()["error"] == "draft_already_signed"
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["status"] == "signed" and recap["mandate"]
    # Nor identified again once signed.
    r = aidant.post(f"/api/mandates/drafts/{draft['draft']}/franceconnect")
    assert r.status_code == 409
    assert len(aidant.get("/api/mandates").json()["mandates"]) == 1


def test_a_draft_can_go_through_franceconnect_again_before_signing(stack):
    """Draft reuse: after a cancel (or to change the usager) the same draft gets a
    new FranceConnect login; the last identified usager is the one who signs."""
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["loisirs"])
    aidant.identify(draft["franceconnect_url"], "pierre")
    r = aidant.post(f"/api/mandates/drafts/{draft['draft']}/franceconnect")
    assert r.status_code == 200, r.text
    again = r.json()["franceconnect_url"]
    assert query_of(again)["state"] != query_of(draft["franceconnect_url"])["state"]
    aidant.identify(again, "eloise")
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["usager"]["given_name"] == "Éloïse Marie-Thérèse"
    mandate_id = aidant.sign(draft["draft"]).json()["mandate"]
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["usager_name"] == "Éloïse Marie-Thérèse LEFÈVRE-N'DIAYE"


def test_signing_before_identification_is_refused(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["status"] == "awaiting_identification" and recap["usager"] is None
    r = aidant.sign(draft["draft"])
    assert r.status_code == 409 and r.json()["error"] == "usager_not_identified"


def test_usager_must_have_been_informed(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    aidant.identify(draft["franceconnect_url"])
    for informed in (False, None, "true"):
        r = aidant.post("/api/mandates", {"draft": draft["draft"], "otp": "123456", "usager_informed": informed})
        assert r.status_code == 400 and r.json()["error"] == "usager_not_informed"


def test_wrong_and_replayed_codes_are_refused_and_the_draft_stays_signable(stack):
    aidant = new_aidant(stack)
    login_step = aidant.devices[0].last_step
    totp = pyotp.TOTP(aidant.devices[0].secret)
    draft = aidant.new_draft(["famille"])
    aidant.identify(draft["franceconnect_url"])

    def sign_with(code, draft_id=draft["draft"]):
        return aidant.post("/api/mandates", {"draft": draft_id, "otp": code, "usager_informed": True})

    r = sign_with(totp.at(time.time() - 3600))
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"
    # The code of the step the login used: a replay (or, steps later, just wrong).
    r = sign_with(totp.at(login_step * 30))
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"

    good = aidant.code()
    r = sign_with(good)
    assert r.status_code == 201, r.text
    # The same code cannot confirm anything else.
    other = aidant.new_draft(["famille"])
    aidant.identify(other["franceconnect_url"])
    r = sign_with(good, other["draft"])
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"


def test_expired_draft_cannot_be_identified_nor_signed(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    aidant.identify(draft["franceconnect_url"])
    late = aidant.new_draft(["papiers"])
    stack.use_store()
    from shared.store import MandateDraft

    for d in (draft, late):
        MandateDraft(*MandateDraft.key(d["draft"])).update(actions=[MandateDraft.expires_at.set(int(time.time()) - 1)])

    r = aidant.sign(draft["draft"])
    assert r.status_code == 410 and r.json()["error"] == "draft_expired"
    assert aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["status"] == "expired"
    # A login started before the expiry does not attach a usager afterwards.
    location = aidant.identify(late["franceconnect_url"])
    page, draft_id, error = landing(location)
    assert page == "/mandats/nouveau/" and draft_id == late["draft"]
    # The login was started before the expiry, so FranceConnect did identify the usager…
    assert error == "draft_expired"
    assert aidant.get(f"/api/mandates/drafts/{late['draft']}").json()["usager"] is None
    assert aidant.get("/api/mandates").json()["mandates"] == []
    # …and that FranceConnect session was ended all the same (through its logout).
    assert not aidant.session.cookies.get("fc_sid")


def test_concurrent_signatures_of_one_draft_give_one_mandate(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers", "social"])
    aidant.identify(draft["franceconnect_url"])
    # One distinct valid code per thread (one TOTP device each): every request
    # passes the TOTP check, so only the draft's condition can stop the others.
    codes = [aidant.code_of_new_device() for _ in range(5)]
    barrier = threading.Barrier(len(codes))
    results = []

    def sign(code):
        session = requests.Session()
        session.cookies.update(aidant.session.cookies)
        barrier.wait()
        r = session.post(
            stack.url + "/api/mandates", json={"draft": draft["draft"], "otp": code, "usager_informed": True}
        )
        results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=sign, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409, 409], results
    listed = aidant.get("/api/mandates").json()["mandates"]
    assert len(listed) == 1
    stack.use_store()
    from shared import journal, mandates

    assert [e.action for e in journal.for_structure(aidant.structure_id)].count("mandate_created") == 1
    assert len(mandates.active_autorisations_of_structure(aidant.structure_id)) == 2


def test_transaction_refused_by_its_last_condition_writes_nothing(stack):
    """A failure injected in the signature's transaction (the draft condition fails,
    as when another signature won): no mandate, no autorisation, no journal entry."""
    from pynamodb.exceptions import TransactWriteError

    aidant = new_aidant(stack)
    stack.use_store()
    from shared import journal, mandates
    from shared.store import MandateDraft, now, writes

    usager = mandates.upsert_usager("sub-half-written", {"given_name": "Paul", "family_name": "MOITIÉ"})
    draft = MandateDraft(
        *MandateDraft.key("half-" + aidant.id),
        id="half-" + aidant.id,
        aidant_id=aidant.id,
        structure_id=aidant.structure_id,
        demarches=["papiers"],
        duration="long",
        usager_id=usager.id,
        expires_at=int(time.time()) + 600,
        signed_at=now(),
    )
    draft.save()
    spec = mandates.NewMandate(
        structure_id=aidant.structure_id,
        usager=usager,
        demarches=["papiers", "argent"],
        duration="long",
        is_remote=False,
        remote_consent=None,
        aidant_id=aidant.id,
        aidant_name="Test Aidant",
        text_snapshot="Mentions",
    )
    consume = (
        "update",
        MandateDraft(*MandateDraft.key(draft.id)),
        {"actions": [MandateDraft.signed_at.set(now())], "condition": MandateDraft.signed_at.does_not_exist()},
    )
    with pytest.raises(TransactWriteError) as failed:
        mandates.create(spec, extra=[consume])
    assert writes.is_condition_failure(failed.value)
    assert aidant.get("/api/mandates").json()["mandates"] == []
    assert mandates.active_autorisations_of_structure(aidant.structure_id) == []
    assert mandates.active_autorisations_of_usager(aidant.structure_id, usager.id) == []
    assert [e for e in journal.for_structure(aidant.structure_id) if e.mandate_id or e.usager_id] == []


def test_renewal_racing_a_revocation_writes_nothing(stack, monkeypatch):
    """The renewal closes the old autorisation only if it is still active: when a
    revocation got there first, the new mandate is not written at all."""
    from pynamodb.exceptions import TransactWriteError

    aidant = new_aidant(stack)
    first = aidant.create_mandate(["papiers"])
    stack.use_store()
    from shared import journal, mandates

    usager_id = aidant.get(f"/api/mandates/{first}").json()["usager_id"]
    stale = mandates.active_autorisations_of_usager(aidant.structure_id, usager_id)
    assert aidant.revoke(first).status_code == 200
    # The renewal read the autorisation before the revocation committed.
    monkeypatch.setattr(mandates, "active_autorisations_of_usager", lambda *a, **k: stale)
    from shared.store import Usager

    usager = Usager.get(*Usager.key(usager_id))
    spec = mandates.NewMandate(
        structure_id=aidant.structure_id,
        usager=usager,
        demarches=["papiers"],
        duration="long",
        is_remote=False,
        remote_consent=None,
        aidant_id=aidant.id,
        aidant_name="Test Aidant",
        text_snapshot="Mentions",
    )
    with pytest.raises(TransactWriteError):
        mandates.create(spec)
    monkeypatch.undo()
    assert [m["id"] for m in aidant.get("/api/mandates").json()["mandates"]] == [first]
    old = aidant.get(f"/api/mandates/{first}").json()
    assert old["status"] == "revoked" and old["autorisations"][0]["replaced_by"] is None
    assert [e.action for e in journal.for_structure(aidant.structure_id)].count("mandate_created") == 1
