"""Mandate writes and the indexes the identity provider reads, under moto."""

from datetime import datetime, timezone

import pytest


def _usager(mandates, sub="sub-angela"):
    return mandates.upsert_usager(
        sub,
        {
            "given_name": "Angela Claire Louise",
            "family_name": "DUBOIS",
            "birthdate": "1962-08-24",
            "email": "angela@example.fr",
        },
    )


def _spec(mandates, usager, demarches, structure="s1", duration="long"):
    return mandates.NewMandate(
        structure_id=structure,
        usager=usager,
        demarches=demarches,
        duration=duration,
        is_remote=False,
        remote_consent=None,
        aidant_id="a1",
        aidant_name="Camille Fwolk",
        text_snapshot="Mentions",
    )


def test_created_mandate_is_offered_to_its_structure_only(moto_store):
    from shared import mandates

    usager = _usager(mandates)
    mandate = mandates.create(_spec(mandates, usager, ["papiers", "argent"]))
    offered = mandates.active_autorisations_of_structure("s1")
    assert sorted(a.demarche for a in offered) == ["argent", "papiers"]
    assert mandates.active_autorisations_of_structure("s2") == []
    assert mandates.active_autorisation("s1", usager.id, "argent").mandate_id == mandate.id
    assert mandates.active_autorisation("s2", usager.id, "argent") is None


def test_renewal_replaces_only_overlapping_demarches(moto_store):
    from shared import mandates

    usager = _usager(mandates)
    first = mandates.create(_spec(mandates, usager, ["papiers", "argent"]))
    second = mandates.create(_spec(mandates, usager, ["argent", "logement"]))
    active = {a.demarche: a.mandate_id for a in mandates.active_autorisations_of_usager("s1", usager.id)}
    assert active == {"papiers": first.id, "argent": second.id, "logement": second.id}
    old, autorisations = mandates.load(first.id)
    assert old.active_demarches == {"papiers"}
    replaced = next(a for a in autorisations if a.demarche == "argent")
    assert replaced.replaced_by == second.id and replaced.revoked_at is not None


def test_short_mandate_ends_at_the_end_of_next_day_in_paris():
    from shared import mandates

    start = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)  # already the 24th in Paris (UTC+1)
    end = mandates.expiry_for("short", start)
    assert end == datetime(2026, 11, 25, 22, 59, 59, tzinfo=timezone.utc)


def test_unknown_demarche_is_refused(moto_store):
    from shared import errors, mandates

    with pytest.raises(errors.BadRequest):
        mandates.validate_demarches(["papiers", "casino"])
    with pytest.raises(errors.BadRequest):
        mandates.validate_demarches([])


def test_expired_autorisation_is_not_offered(moto_store):
    from shared import mandates

    usager = _usager(mandates)
    mandates.create(_spec(mandates, usager, ["papiers"], duration="short"))
    later = datetime.now(timezone.utc).replace(year=datetime.now().year + 1)
    assert mandates.active_autorisations_of_structure("s1", at=later) == []


def test_active_autorisations_carry_the_usagers_display_fields_and_follow_a_refreshed_identity(moto_store):
    from shared import mandates
    from shared.store import Autorisation

    usager = _usager(mandates)
    kept = mandates.create(_spec(mandates, usager, ["papiers", "argent"]))
    elsewhere = mandates.create(_spec(mandates, usager, ["social"], structure="s2"))
    closed = mandates.create(_spec(mandates, usager, ["logement"]))
    Autorisation(*Autorisation.key(closed.id, "logement")).update(
        actions=Autorisation.closing_actions(datetime.now(timezone.utc), "a1")
    )
    first = Autorisation.get(*Autorisation.key(kept.id, "papiers"))
    assert (first.usager_given_name, first.usager_family_name, first.usager_birthdate) == (
        "Angela Claire Louise",
        "DUBOIS",
        "1962-08-24",
    )
    # FranceConnect gives a new identity at the next login: every structure's copy follows.
    mandates.upsert_usager(
        "sub-angela",
        {
            "given_name": "Angela",
            "family_name": "DUBOIS-MARTIN",
            "preferred_username": "DUBOIS",
            "birthdate": "1962-08-24",
        },
    )
    for mandate_id, demarche in ((kept.id, "papiers"), (kept.id, "argent"), (elsewhere.id, "social")):
        copy = Autorisation.get(*Autorisation.key(mandate_id, demarche))
        assert (copy.usager_given_name, copy.usager_family_name, copy.usager_preferred_username) == (
            "Angela",
            "DUBOIS-MARTIN",
            "DUBOIS",
        )
    # A closed autorisation is history: it keeps what it had, and left the usager's index.
    old = Autorisation.get(*Autorisation.key(closed.id, "logement"))
    assert old.usager_family_name == "DUBOIS" and old.gsi3pk is None


def test_an_unchanged_identity_rewrites_no_autorisation(moto_store):
    from shared import mandates

    usager = _usager(mandates)
    mandates.create(_spec(mandates, usager, ["papiers", "argent"]))
    assert mandates.sync_autorisations(_usager(mandates)) == 0
