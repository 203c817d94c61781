"""store/writes.py under moto: a write whose answer was lost is sent again and
recognised as its own; a request out of time writes nothing; conflicts stay
conflicts."""

import time

import botocore.exceptions
import pytest

from shared import errors
from shared.store import LoginLink, Session, is_outage, transaction, writes


def _link(key="l1", **attrs) -> LoginLink:
    now_s = int(time.time())
    return LoginLink(*LoginLink.key(key), aidant_id="a1", expires_at=now_s + 300, ttl=now_s + 300, **attrs)


def _lose_first_answer(monkeypatch, model, method: str):
    """The first call is applied by the store, but its answer never arrives."""
    real = getattr(model, method)
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        result = real(self, *args, **kwargs)
        if len(calls) == 1:
            from pynamodb.exceptions import PutError, UpdateError

            timeout = botocore.exceptions.ReadTimeoutError(endpoint_url="http://store")
            raise (UpdateError if method == "update" else PutError)("lost", timeout)
        return result

    monkeypatch.setattr(model, method, flaky)
    return calls


@pytest.fixture(autouse=True)
def _budget():
    writes.start_budget(8)
    yield
    writes.clear_budget()


def test_an_update_whose_answer_was_lost_is_sent_again_and_recognised_as_its_own(moto_store, monkeypatch):
    link = _link()
    link.save()
    calls = _lose_first_answer(monkeypatch, LoginLink, "update")
    assert writes.update(link, [LoginLink.used_at.set(1)], LoginLink.used_at.does_not_exist()) is True
    assert len(calls) == 2  # the second copy met the item already written by the first


def test_someone_elses_write_is_still_a_failed_condition(moto_store):
    link = _link()
    link.save()
    assert writes.update(link, [LoginLink.used_at.set(1)], LoginLink.used_at.does_not_exist()) is True
    assert writes.update(link, [LoginLink.used_at.set(2)], LoginLink.used_at.does_not_exist()) is False
    assert LoginLink.get(link.pk, link.sk).used_at == 1


def test_a_put_whose_answer_was_lost_is_not_refused_as_existing(moto_store, monkeypatch):
    calls = _lose_first_answer(monkeypatch, Session, "save")
    session = Session(*Session.key("h"), aidant_id="a1", structure_id="s1", expires_at=1, last_seen=1)
    assert writes.put_new(session) is True
    assert len(calls) == 2
    other = Session(*Session.key("h"), aidant_id="a2", structure_id="s1", expires_at=1, last_seen=1)
    assert writes.put_new(other) is False
    assert Session.get(*Session.key("h")).aidant_id == "a1"


def test_a_request_out_of_time_starts_no_write(moto_store):
    writes.start_budget(0)
    link = _link()
    with pytest.raises(writes.BudgetExhausted) as raised:
        link.save()
    assert is_outage(raised.value)  # answered 503 by shared.http
    writes.start_budget(8)
    with pytest.raises(LoginLink.DoesNotExist):
        LoginLink.get(link.pk, link.sk)


def test_a_write_is_not_sent_again_once_a_call_no_longer_fits_the_budget(moto_store, monkeypatch):
    link = _link()
    link.save()
    calls = _lose_first_answer(monkeypatch, LoginLink, "update")
    writes.start_budget(2)  # less than a store call's timeouts: no second copy
    from pynamodb.exceptions import UpdateError

    with pytest.raises(UpdateError) as raised:
        writes.update(link, [LoginLink.used_at.set(1)], LoginLink.used_at.does_not_exist())
    assert is_outage(raised.value) and len(calls) == 1


def test_a_transaction_carries_a_client_request_token_and_conflicts_become_domain_errors(moto_store):
    link = _link()
    with transaction() as tx:
        assert tx._client_request_token
        tx.save(link, condition=LoginLink.pk.does_not_exist())
    with pytest.raises(errors.Gone):
        with writes.conflict_as(errors.Gone()):
            with transaction() as tx:
                tx.save(_link(), condition=LoginLink.pk.does_not_exist())


def test_a_transaction_given_a_domain_error_raises_it_and_one_without_raises_the_stores(moto_store):
    from pynamodb.exceptions import TransactWriteError

    link = _link()
    link.save()
    with pytest.raises(errors.Conflict) as refused:
        with transaction(errors.Conflict("déjà pris", code="taken")) as tx:
            tx.save(_link(), condition=LoginLink.pk.does_not_exist())
    assert refused.value.code == "taken" and writes.is_condition_failure(refused.value.__cause__)
    with pytest.raises(TransactWriteError) as raw:
        with transaction() as tx:
            tx.save(_link(), condition=LoginLink.pk.does_not_exist())
    assert writes.is_condition_failure(raw.value)


def test_operations_prepared_elsewhere_join_the_transaction(moto_store):
    first, second = _link("l1"), _link("l2")
    with transaction() as tx:
        tx.include(
            [
                ("save", first, {"condition": LoginLink.pk.does_not_exist()}),
                ("save", second, {"condition": LoginLink.pk.does_not_exist()}),
            ]
        )
    assert LoginLink.find("l1").aidant_id == LoginLink.find("l2").aidant_id == "a1"


def test_a_counter_is_a_plain_conditional_update(moto_store):
    from shared.store import RateCounter as C

    counter = C(*C.key("x"))
    assert writes.update_counter(counter, [C.count.add(1), C.kind.set(C)], C.pk.does_not_exist()) is True
    assert writes.update_counter(counter, [C.count.add(1)], C.pk.does_not_exist()) is False
    stored = C.find("x")
    assert stored.count == 1 and stored.attempt is None  # not an idempotent write: no attempt id
