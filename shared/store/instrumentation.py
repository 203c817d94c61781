"""The one place every pynamodb call goes through (``Connection.dispatch``): the
DynamoDB calls of the current request are counted there (``X-Store-Calls``, the
benches), and no write leaves a request whose time budget is used up
(``writes.check_budget``, docs/reliability.md "A 503 means nothing happened").
With ``STORE_MEASURE_CAPACITY`` (the benches only) each call also asks DynamoDB what
it consumed, summed per request (``X-Store-Units``; ``python -m bench capacity``).

:func:`install` patches pynamodb's ``Connection.dispatch`` (``store.base`` calls it on
import), whatever the versions: the budget check is a guarantee, not an optimisation.
"""

from __future__ import annotations

from pynamodb.connection.base import Connection

# The counter lives with the request's budget, outside the store: shared.http reads
# it for every request, and a function that never talks to the store (oidc_metadata)
# does not import botocore for it.
from ..budget import calls  # noqa: E402
from ..config import settings
from . import writes

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
_ITEM_OPERATIONS = (_WRITES | _READS) - {"Scan"}
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
    if settings().measure_store_capacity and (operation_name in _READS or operation_name in _WRITES):
        return _measured_dispatch(self, operation_name, operation_kwargs)
    if operation_name in _ITEM_OPERATIONS:
        return _direct(self, operation_name, operation_kwargs)
    return _dispatch(self, operation_name, operation_kwargs)


def _direct(self, operation_name, operation_kwargs):
    """An item operation straight to its call: pynamodb's own dispatch adds, for every
    call, a uuid, two blinker signals nobody listens to and ReturnConsumedCapacity
    (which the store then computes and nobody reads)."""
    return self._make_api_call(operation_name, operation_kwargs)


def _measured_dispatch(self, operation_name, operation_kwargs):
    """Benchmarks only: the same call with ``ReturnConsumedCapacity=TOTAL`` (the table's
    and its indexes' units in one figure), its units added to the request's count.
    Off in production: the request paths never ask for it."""
    kwargs = dict(operation_kwargs)
    kwargs.setdefault("ReturnConsumedCapacity", "TOTAL")
    try:
        data = _dispatch(self, operation_name, kwargs)
    except Exception:
        calls.unmeasured += 1
        raise
    consumed = (data or {}).get("ConsumedCapacity") or []
    units = sum(
        float(entry.get("CapacityUnits") or 0) for entry in (consumed if isinstance(consumed, list) else [consumed])
    )
    if operation_name in _READS:
        calls.read_units += units
    else:
        calls.write_units += units
    return data


def install() -> None:
    Connection.dispatch = _counted_dispatch  # type: ignore[method-assign]  # the monkeypatch itself
