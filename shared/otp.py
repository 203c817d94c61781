"""TOTP devices: enrolment, verification, replay protection, brute-force throttling.

A code is accepted once. pyotp tells which time step a code matched; the device
remembers the last accepted step and the new one is stored with a conditional write
``last_step < step``, so two concurrent requests carrying the same code cannot both
pass (docs/architecture.md §8). Replay is never keyed on the code string itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp

from . import crypto, errors, journal
from . import error_codes as codes
from .config import settings
from .store import Aidant, Item, LoginThrottle, TotpDevice, now, writes

LOCKED_MESSAGE = "Trop de codes incorrects. Réessayez dans 15 minutes."
CARD_INTERVAL = 60  # physical OTP cards show a new code every minute
APP_INTERVAL = 30


def _digits_only(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    code = code.strip().replace(" ", "")
    return code if len(code) == 6 and code.isascii() and code.isdigit() else None


def new_device(
    aidant_id: str, kind: str, secret: str | None = None, serial: str | None = None, confirmed: bool = True
) -> tuple[TotpDevice, str]:
    """Build (not save) a device; returns it with the clear seed, which the caller
    may show once (app enrolment) and must then forget."""
    if kind not in ("card", "app"):
        raise ValueError(kind)
    secret = secret or pyotp.random_base32()
    device_id = crypto.new_id()
    pk, sk = TotpDevice.key(aidant_id, device_id)
    device = TotpDevice(
        pk=pk,
        sk=sk,
        device_id=device_id,
        aidant_id=aidant_id,
        device_kind=kind,
        serial=serial,
        sealed_secret=crypto.seal(secret, sk),
        interval=CARD_INTERVAL if kind == "card" else APP_INTERVAL,
        confirmed=confirmed,
        last_step=0,
        created_at=now(),
    )
    return device, secret


def totp_for(device: TotpDevice) -> pyotp.TOTP:
    return pyotp.TOTP(crypto.unseal(device.sealed_secret, device.sk), interval=int(device.interval))


def _matching_step(device: TotpDevice, code: str) -> int | None:
    try:
        return totp_for(device).verify_and_get_timecode(code, valid_window=settings().otp_valid_window)
    except pyotp.exceptions.OTPVerificationError:
        return None


def consume(devices: list[TotpDevice], code: object) -> TotpDevice | None:
    """Accept ``code`` once for one of ``devices``; None when wrong or replayed."""
    code = _digits_only(code)
    if code is None:
        return None
    for device in devices:
        if not device.confirmed:
            continue
        step = _matching_step(device, code)
        if step is None:
            continue
        if not writes.update(
            device, [TotpDevice.last_step.set(step), TotpDevice.last_used_at.set(now())], TotpDevice.last_step < step
        ):
            return None  # this step (or a later one) was already used: a replay
        return device
    return None


# -- brute-force throttling ----------------------------------------------------


@dataclass
class Throttle:
    """At most ``OTP_MAX_FAILURES`` codes checked per key, then a lock of
    ``OTP_LOCKOUT_SECONDS``.

    An attempt is counted *before* its code is checked (:meth:`admit`, one
    conditional write), not after: eighty requests sent at once with eighty guesses
    must get five codes checked and seventy-five 429s, not eighty reads of "not yet
    locked" followed by eighty checks. A right code clears the count."""

    item_key: tuple[str, str]
    failures: int = 0
    locked_until: int | None = None

    @property
    def locked(self) -> bool:
        return bool(self.locked_until and self.locked_until > time.time())

    @classmethod
    def key_for(cls, email: str) -> tuple[str, str]:
        """The count of the address typed, in its normal form (``shared.emails``):
        ``Camille@…`` and ``camille@…`` share one allowance. The item carries a TTL
        (see :meth:`admit`): typing addresses leaves nothing permanent."""
        return LoginThrottle.key(crypto.keyed_hash(email, "throttle"))

    @classmethod
    def key_for_aidant(cls, aidant_id: str) -> tuple[str, str]:
        return LoginThrottle.key(crypto.keyed_hash("aidant:" + aidant_id, "throttle"))

    @classmethod
    def load(cls, key: tuple[str, str]) -> "Throttle":
        try:
            return cls.from_item(key, LoginThrottle.get(*key))
        except LoginThrottle.DoesNotExist:
            return cls(key)

    @classmethod
    def from_item(cls, key: tuple[str, str], item: Item | None) -> "Throttle":
        if not isinstance(item, LoginThrottle):
            return cls(key)  # none, or a bare item that is not a throttle's: nothing counted
        return cls(key, int(item.failures or 0), int(item.locked_until) if item.locked_until else None)

    def retry_after(self) -> int:
        lockout = settings().otp_lockout_seconds
        return max(1, min(lockout, (self.locked_until or 0) - int(time.time()))) if self.locked else lockout

    def admit(self, message: str) -> int:
        """Count this attempt, or refuse it with a 429 when the key is locked or its
        allowance is taken by attempts in flight; returns the attempt's number.

        The write's condition is what makes it atomic. ``ttl`` (DynamoDB's clean-up,
        late or never) is also checked here: past it, the count starts again at one,
        so a count left behind (a few wrong codes long ago, or a process killed
        between admitting the last attempt and locking) never weighs on a new try."""
        cfg = settings()
        now_s = int(time.time())
        T = LoginThrottle
        item = T(*self.item_key)
        expires = now_s + 2 * cfg.otp_lockout_seconds
        if not self.locked:
            # Count in the live item; else start a new count over an expired one; else
            # (a concurrent attempt started it between the two) count in that one.
            for step in ("count", "restart", "count"):
                # The first attempt creates the item through this update: the
                # discriminator must be written too, or it would read back as a bare Item.
                if step == "count":
                    counted = writes.update_counter(
                        item,
                        [T.failures.add(1), T.kind.set(T), T.ttl.set(expires)],
                        (T.locked_until.does_not_exist() | (T.locked_until <= now_s))
                        & (T.failures.does_not_exist() | (T.failures < cfg.otp_max_failures))
                        & (T.ttl.does_not_exist() | (T.ttl > now_s)),
                    )
                else:
                    counted = writes.update_counter(
                        item,
                        [T.failures.set(1), T.kind.set(T), T.ttl.set(expires), T.locked_until.remove()],
                        T.ttl.exists() & (T.ttl <= now_s),
                    )
                if counted:
                    self.failures = int(item.failures)
                    return self.failures
            fresh = Throttle.load(self.item_key)
            self.failures, self.locked_until = fresh.failures, fresh.locked_until
        raise errors.TooManyRequests(message, headers={"Retry-After": str(self.retry_after())})

    def record_failure(self, attempt: int) -> bool:
        """The code of admitted ``attempt`` was wrong; True when that locks the key."""
        cfg = settings()
        if attempt < cfg.otp_max_failures:
            return False  # counted already, by admit()
        # Reset the counter in the same write that sets the lock, so that after the
        # lock the aidant gets a full set of attempts again.
        self.locked_until = int(time.time()) + cfg.otp_lockout_seconds
        # Only if the count still exists: a right code in flight may have cleared it
        # meanwhile (a double-click), and this write must not recreate a bare item.
        if not writes.update_counter(
            LoginThrottle(*self.item_key),
            [LoginThrottle.failures.set(0), LoginThrottle.locked_until.set(self.locked_until)],
            LoginThrottle.pk.exists(),
        ):
            self.locked_until = None
            return False
        return True

    def clear(self) -> None:
        """A right code: the count starts again (admit() always left an item)."""
        LoginThrottle(*self.item_key).delete()


def devices_of(aidant_id: str) -> tuple[Aidant | None, list[TotpDevice]]:
    """The aidant and their devices in one Query on the aidant's partition."""
    aidant, devices, _ = Aidant.partition(aidant_id)
    return aidant, devices


def check_code_for(aidant_id: str, code: object, *, action: str = "confirm") -> TotpDevice:
    """Confirm an action (mandate signature, revocation) with the aidant's TOTP.

    Shares the replay protection of login and its brute-force lock (counted per
    aidant here: a stolen session must not be a way to guess the step-up code); a
    wrong code is a 403 the front-end shows, and is journaled."""
    throttle = Throttle(Throttle.key_for_aidant(aidant_id))
    attempt = throttle.admit(LOCKED_MESSAGE)
    _, devices = devices_of(aidant_id)
    device = consume(devices, code)
    if device is None:
        locked = throttle.record_failure(attempt)
        journal.record(
            journal.OTP_REFUSED,
            aidant_id=aidant_id,
            reason="wrong_or_replayed_code",
            details={"action": action, "locked": locked},
        )
        raise errors.Forbidden("Le code à 6 chiffres est incorrect ou a déjà été utilisé.", code=codes.INVALID_OTP)
    throttle.clear()
    return device
