"""Fixed-window rate limits for actions that cost someone else something, such as
an e-mail sent to an address typed by an anonymous visitor.

A use is taken with one conditional write, so concurrent requests cannot overshoot
the limit; a window that has ended is restarted by the next use. (TOTP guesses have
their own lock, :class:`shared.otp.Throttle`.)
"""

from __future__ import annotations

import time

from . import crypto, errors
from .store import RateCounter, writes


def count_in(tx, name: str, limit: int, now_s: int | None = None) -> None:
    """Count one use in ``tx``, the caller's own transaction, when the current window
    is open and under ``limit``: the use and the change it allows are then one
    write. When that condition fails (no window open yet, a window that has ended,
    or the limit reached) the whole transaction is cancelled, and the caller falls
    back to :func:`take` (which opens the next window or answers 429) and writes its
    change alone: that costs more calls once per window, not per use."""
    now_s = int(time.time()) if now_s is None else now_s
    C = RateCounter
    tx.update(C(*C.key(name)), actions=[C.count.add(1)], condition=(C.window_ends > now_s) & (C.count < limit))


def key_of(name: str) -> tuple[str, str]:
    return RateCounter.key(name)


def take(name: str, limit: int, window_seconds: int, message: str) -> None:
    """Use one of ``limit`` per window of ``window_seconds`` under ``name``, or 429
    with the seconds left in the window as ``Retry-After``."""
    now_s = int(time.time())
    C = RateCounter
    counter = C(*C.key(name))
    # Count in the open window; else open the next one; else (another request opened
    # it between the two) count in that one: a window's first uses racing each other
    # must not refuse a request the limit allows.
    for attempt in ("count", "open", "count"):
        if attempt == "count":
            taken = writes.update_counter(counter, [C.count.add(1)], (C.window_ends > now_s) & (C.count < limit))
        else:
            taken = writes.update_counter(
                counter,
                [
                    C.count.set(1),
                    C.window_ends.set(now_s + window_seconds),
                    C.kind.set(C),
                    C.ttl.set(now_s + 2 * window_seconds),
                ],
                C.pk.does_not_exist() | (C.window_ends <= now_s),
            )
        if taken:
            return
    current = C.find(name)
    ends = int(current.window_ends) if current is not None else now_s + window_seconds
    raise errors.TooManyRequests(message, headers={"Retry-After": str(max(1, ends - now_s))})


def take_for_address(scope: str, email: str, per_address_per_day: int, overall_per_hour: int, busy: str) -> None:
    """For a public form that e-mails the address typed: one allowance per address a
    day (keyed by its HMAC: the address itself is never a key) and one for everyone an
    hour, so the form cannot be made to send our e-mails at will. ``busy`` has a
    ``{}`` where the per-address refusal says so."""
    take(
        f"{scope}:" + crypto.keyed_hash(email, scope),
        per_address_per_day,
        24 * 3600,
        busy.format(" pour cette adresse e-mail"),
    )
    take(f"{scope}:all", overall_per_hour, 3600, busy.format(""))
