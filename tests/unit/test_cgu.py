"""The terms of use (shared.cgu) against moto: the rule, its acceptance, a new version."""

from __future__ import annotations

import pytest


@pytest.fixture
def aidant(moto_store):
    from shared import accounts

    aidant, _ = accounts.create_aidant("cgu@test.fr", "Clara", "Gu", ["s1"], device_kind=None)
    return aidant


def test_an_aidant_who_has_not_accepted_the_terms_cannot_act_on_a_mandate(aidant):
    from shared import cgu, errors

    with pytest.raises(errors.Forbidden) as refused:
        cgu.require_accepted(aidant)
    body = refused.value.body()
    assert body["error"] == "cgu_not_accepted" and body["terms_url"] == "/cgu/"
    assert body["cgu"] == {"accepted_version": None, "current_version": cgu.current_version()}


def test_accepting_the_version_in_force_is_recorded_and_journaled_once(aidant):
    from shared import cgu, journal
    from shared.store import Aidant

    status = cgu.accept(aidant, cgu.current_version(), "s1")
    assert status["accepted"] is True and status["accepted_version"] == cgu.current_version()
    stored = Aidant.get(*Aidant.key(aidant.id))
    assert stored.cgu_version == cgu.current_version() and stored.cgu_accepted_at is not None
    cgu.require_accepted(stored)
    cgu.accept(stored, cgu.current_version(), "s1")  # again: nothing new
    entries = [e for e in journal.for_aidant(aidant.id) if e.action == cgu.CGU_ACCEPTED]
    assert len(entries) == 1 and entries[0].details["version"] == cgu.current_version()
    assert entries[0].structure_id == "s1"


@pytest.mark.parametrize(
    "version,status,code",
    [
        (None, 400, "invalid_request"),
        (3, 400, "invalid_request"),
        ("x" * 40, 400, "invalid_request"),
        ("", 400, "invalid_request"),
        ("2001-01", 409, "cgu_version_outdated"),
    ],
)
def test_only_the_version_in_force_can_be_accepted(aidant, version, status, code):
    from shared import cgu, errors

    with pytest.raises(errors.ApiError) as refused:
        cgu.accept(aidant, version, "s1")
    assert (refused.value.status, refused.value.code) == (status, code)
    assert aidant.cgu_version is None


def test_a_new_version_asks_again(aidant, monkeypatch):
    from shared import cgu, config, errors, journal
    from shared.store import Aidant

    cgu.accept(aidant, cgu.current_version(), "s1")
    first = cgu.current_version()
    monkeypatch.setattr(config, "CGU_VERSION", "2099-01")
    stored = Aidant.get(*Aidant.key(aidant.id))
    assert cgu.status(stored) == {
        "accepted_version": first,
        "current_version": "2099-01",
        "accepted": False,
        "url": "/cgu/",
    }
    with pytest.raises(errors.Forbidden):
        cgu.require_accepted(stored)
    cgu.accept(stored, "2099-01", "s1")
    cgu.require_accepted(Aidant.get(*Aidant.key(aidant.id)))
    versions = sorted(e.details["version"] for e in journal.for_aidant(aidant.id) if e.action == cgu.CGU_ACCEPTED)
    assert versions == sorted([first, "2099-01"])
