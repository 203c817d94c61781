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


def remaining() -> float:
    return float("inf") if _budget.deadline is None else _budget.deadline - time.monotonic()


def check_budget() -> None:
    """A request whose time is up writes nothing more: its caller has been (or is
    about to be) told it failed, so a write now would be a success nobody hears of."""
    if remaining() <= 0:
        raise BudgetExhausted("request budget used up before a write")


class _CallCounter(threading.local):
    """DynamoDB calls made by the current request (waitress serves one request per
    thread, so a thread-local is exactly one request's count)."""

    count = 0
    operations: list

    def reset(self) -> None:
        self.count = 0
        self.operations = []


calls = _CallCounter()
calls.reset()
