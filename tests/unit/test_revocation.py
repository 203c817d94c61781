"""Revocation of a mandate or of one of its autorisations, under moto."""

from datetime import timedelta

import pyotp
import pytest


@pytest.fixture
def world(moto_store):
    """An aidant (with a TOTP device whose seed we know) and a usager."""
    from shared import accounts, mandates

    class World:
        step = 0

        def __init__(self):
            self.aidant, secret = accounts.create_aidant("revoke@test.fr", "Rémi", "Voque", ["s1"])
            self.totp = pyotp.TOTP(secret)
            self.usager = mandates.upsert_usager(
                "sub-angela", {"given_name": "Angela Claire Louise", "family_name": "DUBOIS"}
            )

        def code(self) -> str:
            """A fresh code each call: the current step, then the next one."""
            import time

            now = int(time.time() // 30)
            self.step = max(self.step + 1, now)
            assert self.step <= now + 1, "a test may use at most two codes"
            return self.totp.at(self.step * 30)

        def mandate(self, demarches, structure="s1", duration="long"):
            return mandates.create(
                mandates.NewMandate(
                    structure_id=structure,
                    usager=self.usager,
                    demarches=demarches,
                    duration=duration,
                    is_remote=False,
                    remote_consent=None,
                    aidant_id=self.aidant.id,
                    aidant_name="Rémi Voque",
                    text_snapshot="Mentions",
                )
            )

    return World()


def _offered(structure="s1"):
    from shared import mandates

    return sorted(a.demarche for a in mandates.active_autorisations_of_structure(structure))


def _journal_actions(structure="s1"):
    from shared import journal

    return [e.action for e in journal.for_structure(structure)]


def test_revoking_one_demarche_keeps_the_others(world):
    from shared import revocation

    m = world.mandate(["papiers", "argent", "logement"])
    mandate, autorisations = revocation.revoke("s1", world.aidant.id, m.id, world.code(), demarche="argent")
    assert mandate.active_demarches == {"papiers", "logement"}
    assert mandate.revoked_at is None
    argent = next(a for a in autorisations if a.demarche == "argent")
    assert argent.revoked_at is not None and argent.revoked_by == world.aidant.id and argent.replaced_by is None
    assert argent.gsi1pk is None and argent.gsi2pk is None
    assert _offered() == ["logement", "papiers"]
    assert mandate.gsi3pk is not None  # still reminded before it ends
    assert _journal_actions()[0] == revocation.AUTORISATION_REVOKED


def test_revoking_the_whole_mandate_closes_everything(world):
    from shared import mandates, revocation

    m = world.mandate(["papiers", "argent"])
    mandate, autorisations = revocation.revoke("s1", world.aidant.id, m.id, world.code())
    assert mandates.status_of(mandate) == "revoked"
    assert mandate.revoked_by == world.aidant.id
    assert not mandate.active_demarches
    assert mandate.gsi3pk is None and mandate.gsi3sk is None  # no expiry reminder for it
    assert all(a.revoked_at is not None for a in autorisations)
    assert _offered() == []
    assert _journal_actions()[0] == revocation.MANDATE_REVOKED


def test_revoking_the_last_active_demarche_revokes_the_mandate(world):
    from shared import mandates, revocation

    m = world.mandate(["papiers", "argent"])
    revocation.revoke("s1", world.aidant.id, m.id, world.code(), demarche="papiers")
    mandate, _ = revocation.revoke("s1", world.aidant.id, m.id, world.code(), demarche="argent")
    assert mandates.status_of(mandate) == "revoked" and mandate.gsi3pk is None


def test_a_revoked_mandate_cannot_be_revoked_again(world):
    from shared import errors, revocation

    m = world.mandate(["papiers"])
    revocation.revoke("s1", world.aidant.id, m.id, world.code())
    with pytest.raises(errors.Conflict):
        revocation.revoke("s1", world.aidant.id, m.id, world.code())


def test_checks_come_before_the_code_is_spent(world):
    """A refused revocation does not burn the aidant's current code."""
    from shared import errors, revocation

    m = world.mandate(["papiers"])
    code = world.code()
    with pytest.raises(errors.Conflict):
        revocation.revoke("s1", world.aidant.id, m.id, code, demarche="argent")  # not in the mandate
    with pytest.raises(errors.BadRequest):
        revocation.revoke("s1", world.aidant.id, m.id, code, demarche="casino")
    with pytest.raises(errors.NotFound):
        revocation.revoke("s2", world.aidant.id, m.id, code)  # another structure's
    revocation.revoke("s1", world.aidant.id, m.id, code)


def test_wrong_or_replayed_code_changes_nothing(world):
    from shared import errors, mandates, revocation

    m = world.mandate(["papiers", "argent"])
    code = world.code()
    with pytest.raises(errors.Forbidden):
        revocation.revoke("s1", world.aidant.id, m.id, "12345")
    revocation.revoke("s1", world.aidant.id, m.id, code, demarche="papiers")
    with pytest.raises(errors.Forbidden):
        revocation.revoke("s1", world.aidant.id, m.id, code, demarche="argent")  # same step again
    mandate, _ = mandates.load(m.id)
    assert mandate.active_demarches == {"argent"}
    assert _offered() == ["argent"]


def test_expired_mandate_is_not_revocable(world):
    from shared import errors, revocation
    from shared.store import now

    m = world.mandate(["papiers"], duration="short")
    mandate, autorisations = revocation.load_for_structure(m.id, "s1")
    with pytest.raises(errors.Conflict):
        revocation.plan(mandate, autorisations, None, at=now() + timedelta(days=3))


def test_replaced_autorisation_is_not_revocable_from_the_old_mandate(world):
    from shared import errors, revocation

    first = world.mandate(["papiers", "argent"])
    world.mandate(["argent"])  # renewal takes over "argent"
    with pytest.raises(errors.Conflict):
        revocation.revoke("s1", world.aidant.id, first.id, world.code(), demarche="argent")


def test_concurrent_revocations_of_the_last_two_demarches_cannot_both_pass(world):
    """Both read the mandate with two active démarches; each alone would leave one.
    The second must fail as a whole, or the mandate would end with nothing active
    and no revocation date."""
    from pynamodb.exceptions import TransactWriteError

    from shared import mandates, revocation
    from shared.store import writes

    m = world.mandate(["papiers", "argent"])
    mandate, autorisations = mandates.load(m.id)
    first = revocation.plan(mandate, autorisations, "papiers")
    second = revocation.plan(mandate, autorisations, "argent")
    revocation.apply(first, world.aidant.id, "s1")
    with pytest.raises(TransactWriteError) as failed:
        revocation.apply(second, world.aidant.id, "s1")
    assert writes.is_condition_failure(failed.value)
    mandate, autorisations = mandates.load(m.id)
    assert mandate.active_demarches == {"argent"} and mandate.revoked_at is None
    assert _offered() == ["argent"]
    assert _journal_actions().count(revocation.AUTORISATION_REVOKED) == 1


def test_failed_revocation_writes_no_journal_entry(world):
    """The journal entry is in the same transaction: a refused revocation leaves none."""
    from pynamodb.exceptions import TransactWriteError

    from shared import mandates, revocation

    m = world.mandate(["papiers"])
    mandate, autorisations = mandates.load(m.id)
    plan = revocation.plan(mandate, autorisations, None)
    revocation.apply(plan, world.aidant.id, "s1")
    before = _journal_actions()
    with pytest.raises(TransactWriteError):
        revocation.apply(plan, world.aidant.id, "s1")
    assert _journal_actions() == before
