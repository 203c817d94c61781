"""The one place every pynamodb call goes through (``Connection.dispatch``): the
DynamoDB calls of the current request are counted there (``X-Store-Calls``, the
benches), and no write leaves a request whose time budget is used up
(``writes.check_budget``, docs/reliability.md "A 503 means nothing happened").

:func:`install` patches pynamodb's ``Connection.dispatch`` (``store.base`` calls it on
import), whatever the versions: the budget check is a guarantee, not an optimisation.
"""
from __future__ import annotations

import threading

from pynamodb.connection.base import Connection

from . import writes


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

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
_dispatch = Connection.dispatch


def _counted_dispatch(self, operation_name, operation_kwargs):
    if operation_name in _WRITES:
        # A request past its budget (a frozen process that resumed, a slow chain of
        # reads) has been or is being answered 503 by someone: it must not act now.
        writes.check_budget()
    calls.count += 1
    if not hasattr(calls, "operations"):
        calls.operations = []
    calls.operations.append(operation_name)
    return _dispatch(self, operation_name, operation_kwargs)


def install() -> None:
    Connection.dispatch = _counted_dispatch
