"""Mandate writes and the indexes the identity provider reads, under moto."""
from datetime import datetime, timezone

import pytest


def _usager(mandates, sub="sub-angela"):
    return mandates.upsert_usager(sub, {"given_name": "Angela Claire Louise", "family_name": "DUBOIS",
                                        "birthdate": "1962-08-24", "email": "angela@example.fr"})


def _spec(mandates, usager, demarches, structure="s1", duration="long"):
    return mandates.NewMandate(structure_id=structure, usager=usager, demarches=demarches, duration=duration,
                               is_remote=False, remote_consent=None, aidant_id="a1", aidant_name="Camille Fwolk",
                               text_snapshot="Mentions")


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
