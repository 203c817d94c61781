"""Listing, showing and printing a structure's mandates; isolation between structures."""

import re
import time
from html import unescape

import pytest
import requests

from tests.integration.mandate_flow import new_aidant


@pytest.fixture(scope="module")
def structure(stack):
    """A structure with three mandates (Angela twice, Pierre once), one of them
    revoked, and a second structure with a mandate of its own."""
    aidant = new_aidant(stack)

    def created(mandate_id):
        # Lists sort on the signature time, to the second: keep the three apart.
        time.sleep(1.05)
        return mandate_id

    ids = {
        "angela_old": created(aidant.create_mandate(["papiers", "argent"], identity="angela")),
        "pierre": created(aidant.create_mandate(["logement"], duration="short", identity="pierre")),
        "angela_new": aidant.create_mandate(["social"], remote=True, identity="angela"),
    }
    assert aidant.revoke(ids["pierre"]).status_code == 200
    other = new_aidant(stack)
    ids["other"] = other.create_mandate(["justice"], identity="angela")
    return aidant, other, ids


def test_list_is_the_structures_newest_first(structure):
    aidant, other, ids = structure
    listed = aidant.get("/api/mandates").json()
    assert [m["id"] for m in listed["mandates"]] == [ids["angela_new"], ids["pierre"], ids["angela_old"]]
    assert listed["next_cursor"] is None
    assert [m["id"] for m in other.get("/api/mandates").json()["mandates"]] == [ids["other"]]


def test_list_is_paginated_with_an_opaque_cursor(structure):
    aidant, _, ids = structure
    first = aidant.get("/api/mandates", params={"limit": 2}).json()
    assert [m["id"] for m in first["mandates"]] == [ids["angela_new"], ids["pierre"]]
    assert first["next_cursor"]
    second = aidant.get("/api/mandates", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [m["id"] for m in second["mandates"]] == [ids["angela_old"]]
    assert second["next_cursor"] is None


def test_list_filters_by_status_and_usager(structure):
    aidant, _, ids = structure
    revoked = aidant.get("/api/mandates", params={"status": "revoked"}).json()["mandates"]
    assert [m["id"] for m in revoked] == [ids["pierre"]]
    active = aidant.get("/api/mandates", params={"status": "active"}).json()["mandates"]
    assert [m["id"] for m in active] == [ids["angela_new"], ids["angela_old"]]
    assert aidant.get("/api/mandates", params={"status": "expired"}).json()["mandates"] == []
    angela = aidant.get(f"/api/mandates/{ids['angela_old']}").json()["usager_id"]
    mine = aidant.get("/api/mandates", params={"usager": angela}).json()["mandates"]
    assert [m["id"] for m in mine] == [ids["angela_new"], ids["angela_old"]]


def test_expired_mandates_are_listed_as_expired(stack):
    aidant = new_aidant(stack)
    ended = aidant.create_mandate(["etranger"], duration="short")
    time.sleep(1.05)
    running = aidant.create_mandate(["loisirs"], identity="pierre")
    stack.use_store()
    from datetime import timedelta

    from shared.store import Mandate, now

    Mandate(*Mandate.key(ended)).update(actions=[Mandate.expires_at.set(now() - timedelta(minutes=1))])
    expired = aidant.get("/api/mandates", params={"status": "expired"}).json()["mandates"]
    assert [m["id"] for m in expired] == [ended] and expired[0]["status"] == "expired"
    active = aidant.get("/api/mandates", params={"status": "active"}).json()["mandates"]
    assert [m["id"] for m in active] == [running]
    r = aidant.revoke(ended)
    assert r.status_code == 409 and r.json()["error"] == "mandate_expired"


def test_detail_shows_autorisations_and_usager(structure):
    aidant, _, ids = structure
    m = aidant.get(f"/api/mandates/{ids['angela_old']}").json()
    assert m["usager"]["full_name"] == "Angela Claire Louise DUBOIS"
    assert [a["demarche"] for a in m["autorisations"]] == ["argent", "papiers"]
    assert [d["title"] for d in m["demarches_details"]] == [
        "Papiers - Citoyenneté - Élections",
        "Argent - Impôts - Consommation",
    ]


def test_other_structures_get_404_everywhere(structure):
    aidant, other, ids = structure
    for path in (
        f"/api/mandates/{ids['angela_old']}",
        f"/api/mandates/{ids['angela_old']}/print",
        f"/api/mandates/{ids['pierre']}/revocation/print",
    ):
        r = other.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", path
    r = other.revoke(ids["angela_old"])
    assert r.status_code == 404
    angela = aidant.get(f"/api/mandates/{ids['angela_old']}").json()["usager_id"]
    theirs = other.get("/api/mandates", params={"usager": angela}).json()["mandates"]
    assert [m["id"] for m in theirs] == [ids["other"]]
    draft = aidant.new_draft(["papiers"])
    assert other.get(f"/api/mandates/drafts/{draft['draft']}").status_code == 404
    assert other.post(f"/api/mandates/drafts/{draft['draft']}/franceconnect").status_code == 404
    r = other.post("/api/mandates", {"draft": draft["draft"], "otp": "123456", "usager_informed": True})
    assert r.status_code == 404
    assert aidant.get(f"/api/mandates/{ids['angela_old']}").json()["status"] == "active"


def test_an_aidant_of_the_same_structure_sees_the_mandates_but_not_the_drafts(structure, stack):
    aidant, _, ids = structure
    colleague = new_aidant(stack, aidant.structure_id)
    assert colleague.get(f"/api/mandates/{ids['angela_old']}").status_code == 200
    draft = aidant.new_draft(["papiers"])
    assert colleague.get(f"/api/mandates/drafts/{draft['draft']}").status_code == 404


def test_printable_mandate_has_every_required_field(structure):
    aidant, _, ids = structure
    r = aidant.get(f"/api/mandates/{ids['angela_new']}/print")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.text
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    text = re.sub(r"\s+", " ", text)
    assert '<html lang="fr">' in html and "@media print" in html
    for expected in (
        "Mandat Aidants Connect",
        "Angela Claire Louise DUBOIS",
        "24 août 1962",  # usager identity
        "Maison France Services de Test",
        "11111111111111",  # structure
        "Social - Santé",
        "Carte vitale, Chômage, Handicap, RSA, Personnes âgées",  # démarche + description
        "Durée 1 an",
        "Date de fin",
        "Date de signature",
        "Mandat réalisé à distance",
        "SMS reçu le 3 mars à 10h12",
        "Mentions à lire à l'usager",
        "Les aidants habilités par Maison France Services de Test doivent",
        "s'interdire de rendre publiques vos informations personnelles",
        "il accepte de le faire dans les conditions décrites dans le mandat",
        "Référence de vérification",
        ids["angela_new"],
    ):
        assert expected in text, expected
    assert re.search(r"AC-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", text)
    m = aidant.get(f"/api/mandates/{ids['angela_new']}").json()
    assert m["expires_at"][:4] in text  # the end date's year


def test_printable_mandate_signed_in_person(structure):
    aidant, _, ids = structure
    text = unescape(aidant.get(f"/api/mandates/{ids['angela_old']}/print").text)
    assert "Mandat signé en présence de l'usager" in text and "Mandat réalisé à distance" not in text


def test_revocation_attestation(structure):
    aidant, _, ids = structure
    assert aidant.get(f"/api/mandates/{ids['angela_old']}/revocation/print").status_code == 404
    r = aidant.get(f"/api/mandates/{ids['pierre']}/revocation/print")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    text = unescape(r.text)
    assert "Attestation de révocation" in text and "Pierre MERCIER" in text and "Logement" in text
    assert "révoqué le" in text and "Test Aidant" in text


def test_demarches_catalogue(structure, stack):
    aidant, _, _ = structure
    body = aidant.get("/api/demarches").json()
    assert [d["key"] for d in body["demarches"]] == [
        "papiers",
        "famille",
        "social",
        "travail",
        "logement",
        "transports",
        "argent",
        "justice",
        "etranger",
        "loisirs",
    ]
    assert all(d["title"] and d["description"] and d["examples"] for d in body["demarches"])
    assert [d["key"] for d in body["durations"]] == ["short", "six_months", "long"]
    assert "Maison France Services de Test" in body["mentions"]["intro"]
    assert len(body["mentions"]["obligations"]) == 7
    anonymous = requests.get(stack.url + "/api/demarches").json()
    assert len(anonymous["demarches"]) == 10


def test_usagers_of_the_structure(structure):
    aidant, _, ids = structure
    usagers = {u["name"]: u for u in aidant.get("/api/usagers").json()["usagers"]}
    assert set(usagers) >= {"Angela Claire Louise DUBOIS", "Pierre MERCIER"}
    angela = usagers["Angela Claire Louise DUBOIS"]
    assert angela["has_active_mandate"] and angela["active_demarches"] == ["argent", "papiers", "social"]
    assert {m["id"] for m in angela["mandates"]} == {ids["angela_old"], ids["angela_new"]}
    assert usagers["Pierre MERCIER"]["has_active_mandate"] is False
    found = aidant.get("/api/usagers", params={"q": "angela dubois"}).json()["usagers"]
    assert [u["name"] for u in found] == ["Angela Claire Louise DUBOIS"]
    assert aidant.get("/api/usagers", params={"q": "zzz"}).json()["usagers"] == []


def test_listing_costs_a_bounded_number_of_store_calls(structure):
    aidant, _, _ = structure
    r = aidant.get("/api/mandates", params={"status": "expired", "limit": 1})
    assert r.status_code == 200
    assert int(r.headers["X-Store-Calls"]) <= 3 + 4  # session (and its touch) + at most MAX_QUERIES pages
