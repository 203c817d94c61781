"""Revoking a mandate, or one of its autorisations, through the gateway."""

import concurrent.futures

import pyotp

from tests.integration.mandate_flow import new_aidant


def _offered(stack, structure_id):
    stack.use_store()
    from shared import mandates

    return sorted(a.demarche for a in mandates.active_autorisations_of_structure(structure_id))


def test_revoking_one_autorisation_stops_offering_it_at_once(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers", "argent", "famille"])
    assert _offered(stack, aidant.structure_id) == ["argent", "famille", "papiers"]
    r = aidant.revoke(mandate_id, "argent")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == mandate_id and body["status"] == "active"
    assert body["active_demarches"] == ["famille", "papiers"]
    statuses = {a["demarche"]: a["status"] for a in body["autorisations"]}
    assert statuses == {"argent": "revoked", "famille": "active", "papiers": "active"}
    assert _offered(stack, aidant.structure_id) == ["famille", "papiers"]
    from shared import journal

    entry = next(e for e in journal.for_structure(aidant.structure_id) if e.action == "autorisation_revoked")
    assert entry.mandate_id == mandate_id and entry.demarche == "argent"
    # Revoking it again is a conflict, not a second journal entry.
    r = aidant.revoke(mandate_id, "argent")
    assert r.status_code == 409 and r.json()["error"] == "autorisation_not_active"


def test_revoking_the_whole_mandate(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers", "transports"])
    colleague = new_aidant(stack, aidant.structure_id)  # any aidant of the structure may revoke
    r = colleague.revoke(mandate_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "revoked" and body["revoked_at"] and body["active_demarches"] == []
    assert {a["status"] for a in body["autorisations"]} == {"revoked"}
    assert _offered(stack, aidant.structure_id) == []
    from shared import journal
    from shared.store import Mandate

    stored = Mandate.get(*Mandate.key(mandate_id))
    assert stored.gsi3pk is None  # out of the expiry index: no reminder for it
    assert "mandate_revoked" in [e.action for e in journal.for_structure(aidant.structure_id)]
    r = aidant.revoke(mandate_id)
    assert r.status_code == 409 and r.json()["error"] == "already_revoked"
    assert aidant.get("/api/mandates", params={"status": "revoked"}).json()["mandates"][0]["id"] == mandate_id


def test_revocation_needs_a_valid_unused_code(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers"])
    totp = pyotp.TOTP(aidant.devices[0].secret)
    r = aidant.post(f"/api/mandates/{mandate_id}/revoke", {"otp": totp.at(0)})
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"
    code = aidant.code()
    assert aidant.post(f"/api/mandates/{mandate_id}/revoke", {"otp": code, "demarche": "papiers"}).status_code == 200
    other = aidant.create_mandate(["argent"], identity="pierre")
    r = aidant.post(f"/api/mandates/{other}/revoke", {"otp": code})
    assert r.status_code == 403 and r.json()["error"] == "invalid_otp"
    assert aidant.get(f"/api/mandates/{other}").json()["status"] == "active"


def test_revoking_an_unknown_or_foreign_demarche(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(["papiers"])
    r = aidant.post(f"/api/mandates/{mandate_id}/revoke", {"otp": "123456", "demarche": "casino"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_demarche"
    r = aidant.post(f"/api/mandates/{mandate_id}/revoke", {"otp": "123456", "demarche": "argent"})
    assert r.status_code == 409 and r.json()["error"] == "autorisation_not_active"
    assert aidant.post("/api/mandates/nope/revoke", {"otp": "123456"}).status_code == 404


def test_renewed_autorisation_can_be_revoked_on_the_new_mandate_only(stack):
    aidant = new_aidant(stack)
    first = aidant.create_mandate(["papiers", "argent"])
    second = aidant.create_mandate(["argent"])
    r = aidant.revoke(first, "argent")
    assert r.status_code == 409
    r = aidant.revoke(second, "argent")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert _offered(stack, aidant.structure_id) == ["papiers"]


def test_guessing_the_confirmation_code_is_locked_after_five_tries(stack):
    """A stolen session must not be a way to guess the aidant's step-up code."""
    from .mandate_flow import new_aidant as _new_aidant

    aidant = _new_aidant(stack)
    mandate_id = aidant.create_mandate(demarches=("papiers",))
    good = aidant.code()
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    url = f"/api/mandates/{mandate_id}/revoke"
    statuses = [aidant.post(url, {"otp": wrong}).status_code for _ in range(5)]
    assert statuses == [403] * 5
    locked = aidant.post(url, {"otp": good})
    assert locked.status_code == 429 and locked.json()["error"] == "too_many_requests"
    stack.use_store()
    from shared import journal

    refused = [e for e in journal.for_aidant(aidant.id) if e.action == "otp_refused"]
    assert len(refused) == 5 and refused[0].details["action"] == "revoke_mandate"


def test_parallel_guesses_of_the_confirmation_code_get_five_checks(stack):
    from .mandate_flow import new_aidant as _new_aidant

    aidant = _new_aidant(stack)
    mandate_id = aidant.create_mandate(demarches=("papiers",))
    good = aidant.code()
    guesses = [f"{(int(good) + i) % 1000000:06d}" for i in range(1, 21)]
    url = f"/api/mandates/{mandate_id}/revoke"
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda code: aidant.post(url, {"otp": code}).status_code, guesses))
    assert sorted(statuses) == [403] * 5 + [429] * 15, statuses
    assert aidant.get(f"/api/mandates/{mandate_id}").json()["status"] == "active"
