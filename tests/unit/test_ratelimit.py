"""Fixed-window limits: exactly ``limit`` uses per window. (Concurrent uses need
the store's atomic conditions, which moto does not hold across threads:
test_habilitation.py sends them to DynamoDB Local.)"""

import pytest

from shared import errors, ratelimit


def test_limit_uses_per_window_then_429_until_the_window_ends(moto_store, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    for _ in range(3):
        ratelimit.take("x", 3, 60, "trop")
    with pytest.raises(errors.TooManyRequests) as refused:
        ratelimit.take("x", 3, 60, "trop")
    assert refused.value.headers["Retry-After"] == "60" and refused.value.description == "trop"
    clock[0] += 59
    with pytest.raises(errors.TooManyRequests) as refused:
        ratelimit.take("x", 3, 60, "trop")
    assert refused.value.headers["Retry-After"] == "1"
    clock[0] += 1  # the window has ended: the next use opens another
    for _ in range(3):
        ratelimit.take("x", 3, 60, "trop")
    with pytest.raises(errors.TooManyRequests):
        ratelimit.take("x", 3, 60, "trop")
    ratelimit.take("y", 3, 60, "trop")  # each name counts on its own
