"""TOTP: single use per time step, even concurrently; throttling per e-mail."""

import time

import pyotp
import pytest

from shared import crypto, emails, errors, otp


def _device(moto_store, kind="app"):
    device, secret = otp.new_device("a1", kind)
    device.save()
    return device, pyotp.TOTP(secret, interval=int(device.interval))


def test_the_seed_is_never_stored_in_clear(moto_store):
    device, totp = _device(moto_store)
    raw = moto_store.TotpDevice.get(device.pk, device.sk)
    assert totp.secret not in raw.sealed_secret
    assert totp.secret not in repr(raw)
    assert crypto.unseal(raw.sealed_secret, raw.sk) == totp.secret


def test_a_sealed_seed_does_not_open_on_another_device(moto_store):
    device, _ = _device(moto_store)
    import pytest
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        crypto.unseal(device.sealed_secret, "TOTP#other")


def test_a_code_is_accepted_once(moto_store):
    device, totp = _device(moto_store)
    code = totp.now()
    assert otp.consume([device], code) is not None
    fresh = moto_store.TotpDevice.get(device.pk, device.sk)
    assert otp.consume([fresh], code) is None  # replay, same step


def test_an_older_step_is_refused_after_a_newer_one(moto_store):
    device, totp = _device(moto_store)
    assert otp.consume([device], totp.at(time.time() + totp.interval)) is not None
    fresh = moto_store.TotpDevice.get(device.pk, device.sk)
    assert otp.consume([fresh], totp.now()) is None


def test_malformed_codes_are_refused_without_lookup(moto_store):
    device, _ = _device(moto_store)
    for code in ["", "12345", "1234567", "abcdef", None, 123456, "١٢٣٤٥٦"]:
        assert otp.consume([device], code) is None


def test_unconfirmed_device_cannot_be_used(moto_store):
    device, secret = otp.new_device("a1", "card", confirmed=False)
    device.save()
    assert otp.consume([device], pyotp.TOTP(secret, interval=60).now()) is None


def test_five_failures_lock_the_email(moto_store):
    key = otp.Throttle.key_for(emails.normalize("Someone@Example.fr"))
    locked = []
    for _ in range(5):
        throttle = otp.Throttle(key)
        locked.append(throttle.record_failure(throttle.admit("bloqué")))
    assert locked == [False, False, False, False, True]
    item = moto_store.LoginThrottle.get(*key)
    assert otp.Throttle.from_item(key, item).locked
    assert otp.Throttle.key_for(emails.normalize(" someone@EXAMPLE.fr")) == key  # one count per mailbox
    with pytest.raises(errors.TooManyRequests) as refused:
        otp.Throttle(key).admit("bloqué")
    assert 0 < int(refused.value.headers["Retry-After"]) <= 15 * 60


def test_attempts_in_flight_take_the_allowance_before_their_codes_are_checked(moto_store):
    # Five admitted and not yet judged: a sixth is refused, whatever their outcome.
    key = otp.Throttle.key_for("racer@example.fr")
    attempts = [otp.Throttle(key).admit("bloqué") for _ in range(5)]
    assert attempts == [1, 2, 3, 4, 5]
    with pytest.raises(errors.TooManyRequests):
        otp.Throttle(key).admit("bloqué")
    # The fifth was a right code: the count starts again.
    otp.Throttle(key).clear()
    assert otp.Throttle(key).admit("bloqué") == 1


def test_a_count_left_at_the_maximum_without_a_lock_expires(moto_store, monkeypatch):
    # A process killed between admitting the fifth attempt and locking: past the
    # item's ttl, the count starts again, as if DynamoDB had already deleted it
    # (its TTL clean-up is late, or never on DynamoDB Local).
    key = otp.Throttle.key_for("crashed@example.fr")
    for _ in range(5):
        otp.Throttle(key).admit("bloqué")
    later = time.time() + 2 * 15 * 60 + 1
    monkeypatch.setattr(otp.time, "time", lambda: later)
    throttle = otp.Throttle(key)
    assert throttle.admit("bloqué") == 1 and throttle.record_failure(1) is False
    attempts = [otp.Throttle(key).admit("bloqué") for _ in range(4)]
    assert attempts == [2, 3, 4, 5]


def test_old_wrong_codes_do_not_weigh_on_a_new_try(moto_store, monkeypatch):
    """Four wrong codes, then nothing for longer than the item's ttl: the aidant has
    five tries again, whether or not DynamoDB has deleted the count yet."""
    key = otp.Throttle.key_for("revenant@example.fr")
    for _ in range(4):
        throttle = otp.Throttle(key)
        assert throttle.record_failure(throttle.admit("bloqué")) is False
    later = time.time() + 2 * 15 * 60 + 1
    monkeypatch.setattr(otp.time, "time", lambda: later)
    locked = []
    for _ in range(5):
        throttle = otp.Throttle.load(key)
        locked.append(throttle.record_failure(throttle.admit("bloqué")))
    assert locked == [False, False, False, False, True]


def test_a_right_code_clearing_the_count_is_not_undone_by_a_failure_in_flight(moto_store):
    # A double-click after three wrong codes: attempts 4 and 5 are admitted, the 4th
    # is right and clears the count, the 5th (a replay) then fails. Its lock write
    # must not recreate the item (a bare one would break every later login).
    key = otp.Throttle.key_for("double@example.fr")
    for _ in range(3):
        throttle = otp.Throttle(key)
        throttle.record_failure(throttle.admit("bloqué"))
    fourth, fifth = otp.Throttle(key), otp.Throttle(key)
    fourth.admit("bloqué")
    attempt = fifth.admit("bloqué")
    fourth.clear()
    assert fifth.record_failure(attempt) is False
    with pytest.raises(moto_store.LoginThrottle.DoesNotExist):
        moto_store.LoginThrottle.get(*key)
    found = list(moto_store.Item.batch_get([key]))
    assert found == [] and not otp.Throttle.from_item(key, moto_store.Item(*key)).locked
