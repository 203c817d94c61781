"""The terms of use (CGU): until the version in force is accepted an aidant logs in
and reads, but cannot create, sign, revoke or use a mandate (identity provider
included); the acceptance is journaled with its version; a new version asks again."""

from __future__ import annotations

import requests

from tests.integration.mandate_flow import Aidant, Device, new_aidant
from tests.integration.oidc_fc import new_usager_with_mandate, register_client


def aidant_without_terms(stack) -> Aidant:
    """A working aidant (trained, with an app) who has not accepted the terms yet."""
    structure_id = stack.new_structure("Structure aux CGU")
    email = stack.new_aidant(structure_id, cgu_version=None)
    session = stack.login(requests.Session(), email)
    stack.use_store()
    from shared import accounts, crypto, otp

    aidant = accounts.find_aidant_by_email(email)
    _, devices = otp.devices_of(aidant.id)
    secret = crypto.unseal(devices[0].sealed_secret, devices[0].sk)
    return Aidant(stack, email, aidant.id, structure_id, session, [Device(secret, int(devices[0].last_step))])


def refused(r: requests.Response) -> bool:
    body = r.json()
    return r.status_code == 403 and body["error"] == "cgu_not_accepted" and body["terms_url"] == "/cgu/"


def test_until_the_terms_are_accepted_an_aidant_reads_but_cannot_act_on_a_mandate(stack):
    from shared import cgu

    aidant = aidant_without_terms(stack)
    _, mandate_id = new_usager_with_mandate(stack, aidant.structure_id, aidant.id)
    me = aidant.get("/api/me").json()
    assert me["cgu"] == {
        "accepted_version": None,
        "current_version": cgu.current_version(),
        "accepted": False,
        "url": "/cgu/",
    }
    # Reading is allowed.
    assert aidant.get("/api/mandates").status_code == 200
    assert aidant.get(f"/api/mandates/{mandate_id}").status_code == 200
    assert aidant.get(f"/api/mandates/{mandate_id}/print").status_code == 200
    # Creating, revoking, using through the identity provider are not.
    assert refused(
        aidant.post("/api/mandates/drafts", {"demarches": ["papiers"], "duration": "long", "is_remote": False})
    )
    assert refused(aidant.revoke(mandate_id))
    fc = register_client(stack)
    txn = fc.authorize(aidant.session).txn
    assert refused(aidant.get(f"/api/fi/transactions/{txn}"))
    assert refused(aidant.post(f"/api/fi/transactions/{txn}", {"usager": "x", "demarche": "papiers"}))
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["status"] == "active"

    r = aidant.post("/api/me/cgu", {"version": "1999-01"})
    assert r.status_code == 409 and r.json()["error"] == "cgu_version_outdated"
    r = aidant.post("/api/me/cgu", {"version": cgu.current_version()})
    assert r.status_code == 200 and r.json()["cgu"]["accepted"] is True
    assert aidant.get("/api/me").json()["cgu"]["accepted_version"] == cgu.current_version()
    assert aidant.get(f"/api/fi/transactions/{txn}").status_code == 200
    assert aidant.new_draft(["papiers"])["draft"]
    stack.use_store()
    from shared import journal

    entries = [e for e in journal.for_aidant(aidant.id) if e.action == "cgu_accepted"]
    assert [e.details["version"] for e in entries] == [cgu.current_version()]


def test_a_new_version_asks_again_even_for_a_draft_already_under_way(stack):
    from shared import cgu

    aidant = new_aidant(stack)  # accepted the terms in force, as the test helpers do
    draft = aidant.new_draft(["papiers"])
    aidant.identify(draft["franceconnect_url"])
    # The terms change (this aidant accepted only the previous version).
    stack.use_store()
    from shared.store import Aidant as Stored

    Stored(*Stored.key(aidant.id)).update(actions=[Stored.cgu_version.set("2000-01")])
    assert aidant.get("/api/me").json()["cgu"]["accepted"] is False
    assert refused(aidant.sign(draft["draft"]))
    assert aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()["status"] == "ready"  # still there
    assert aidant.post("/api/me/cgu", {"version": cgu.current_version()}).status_code == 200
    r = aidant.sign(draft["draft"])
    assert r.status_code == 201, r.text


def test_malformed_acceptances_are_4xx(stack):
    aidant = aidant_without_terms(stack)
    for body in ({}, {"version": None}, {"version": 1}, {"version": ["x"]}, {"version": "v" * 100}):
        r = aidant.post("/api/me/cgu", body)
        assert r.status_code == 400 and r.json()["field"] == "version", r.text
    r = aidant.session.post(
        stack.url + "/api/me/cgu",
        data="version=1",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert requests.post(stack.url + "/api/me/cgu", json={"version": "x"}, timeout=10).status_code == 401
    assert aidant.get("/api/me").json()["cgu"]["accepted"] is False


def test_the_demo_accounts_have_accepted_the_terms_in_force(stack):
    stack.use_store()
    from shared import cgu
    from shared.store import Aidant as Stored

    assert stack.seed["cgu_version"] == cgu.current_version()
    for account in (stack.seed["aidant"], stack.seed["referent"], stack.seed["aidant_of_both_structures"]):
        assert Stored.get(*Stored.key(account["id"])).cgu_version == cgu.current_version()
    both = stack.seed["aidant_of_both_structures"]
    assert set(both["structures"]) == {stack.seed["structure"]["id"], stack.seed["other_structure"]["id"]}
