"""What one request may spend and has spent with the store: its time budget and its
count of DynamoDB calls. Kept apart from ``shared.store`` (which imports botocore and
pynamodb) so that ``shared.http``, which starts and reads both for every request, costs
nothing to a function that never talks to the store (``oidc_metadata``).

The budget: each request has one (``REQUEST_BUDGET_SECONDS``, set by ``shared.http``);
a write starts only with time left (``shared.store.writes``, docs/reliability.md "A
503 means nothing happened"). Waitress serves one request per thread, so both are
thread-locals.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .config import settings


class BudgetExhausted(RuntimeError):
    """The request's time is used up: it answers 503 and starts no write."""


class _Budget(threading.local):
    deadline: float | None = None


_budget = _Budget()


def start_budget(seconds: float | None = None) -> None:
    """Called when a request starts (waitress: one request per thread)."""
    _budget.deadline = time.monotonic() + (seconds if seconds is not None else settings().request_budget_seconds)


def clear_budget() -> None:
    _budget.deadline = None


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """A budget of its own for a long run inside a request (a scheduled drain); the
    request's is back afterwards."""
    saved = _budget.deadline
    start_budget(seconds)
    try:
        yield
    finally:
        _budget.deadline = saved


def remaining() -> float:
    return float("inf") if _budget.deadline is None else _budget.deadline - time.monotonic()


def check_budget() -> None:
    """A request whose time is up writes nothing more: its caller has been (or is
    about to be) told it failed, so a write now would be a success nobody hears of."""
    if remaining() <= 0:
        raise BudgetExhausted("request budget used up before a write")


class _CallCounter(threading.local):
    """DynamoDB calls made by the current request (waitress serves one request per
    thread, so a thread-local is exactly one request's count), and, when measured
    (``STORE_MEASURE_CAPACITY``, benchmarks only), the capacity units they consumed
    (``shared/store/instrumentation.py`` counts them)."""

    count = 0
    operations: list
    read_units = 0.0
    write_units = 0.0
    unmeasured = 0  # calls that failed (a refused condition…): DynamoDB reports no capacity

    def reset(self) -> None:
        self.count = 0
        self.operations = []
        self.read_units = 0.0
        self.write_units = 0.0
        self.unmeasured = 0


calls = _CallCounter()
calls.reset()


_request_hooks: list[Callable[[], None]] = []


def on_request_start(hook: Callable[[], None]) -> Callable[[], None]:
    """Register per-thread state to reset when a request starts. A module that keeps
    such state (the sandbox's expiry in ``shared.store``) registers itself when it is
    imported, so a function that never imports it pays nothing."""
    _request_hooks.append(hook)
    return hook


def start_request(seconds: float | None = None) -> None:
    """Called by ``shared.http`` as a request starts: no calls counted yet, its own
    time budget, no state left by the thread's previous request."""
    calls.reset()
    start_budget(seconds)
    for hook in _request_hooks:
        hook()
