"""Writes whose outcome the request knows before it answers.

A 503 must mean "nothing happened", and a success must not be lost to a store that
answered late. Two things break that with a plain conditional write:

* botocore re-sends a write that timed out (``max_retry_attempts``). When the first
  copy was applied after all (the store was only slow, or frozen and then resumed),
  the second copy fails its own condition: a code we just consumed looks replayed.
* after the last timeout the request does not know whether its write was applied,
  and a store that resumes later may still apply it: the caller was told 503, yet a
  code, a link or a draft is used up.

So every write that consumes or creates something is *idempotent*, and the request
sends it again until it hears back or its time is up:

* a single-item conditional write carries an attempt id (:func:`update`,
  :func:`put_new`): its condition is "the rule, or this very attempt already wrote
  it", so a late or re-sent copy of our write is recognised as ours;
* a transaction carries DynamoDB's ``ClientRequestToken`` (``store.transaction``):
  the same transaction sent again within ten minutes is answered with its first
  outcome.

Counters are the exception (:func:`update_counter`): a plain conditional update, sent
once by us (botocore may re-send it), since a count counted twice only makes a limit
bite one attempt early.

With ``base.is_outage`` (503 or 500), this module is where store error codes are
read: the domain sees True/False, or the domain error it handed over
(:func:`conflict_as`, ``store.transaction``).

Each request has a time budget (:func:`start_budget`, set by ``shared.http`` for every
request, ``REQUEST_BUDGET_SECONDS``). A write starts only with time left; a write
that timed out is sent again while a whole store call still fits. Written → the
caller gets the success (whatever it generated before writing is still in memory);
never answered → 503 (:class:`BudgetExhausted`), and the caller's retry runs against
an untouched item, unless the store applies the buffered copy after the budget: what
that leaves behind is listed in docs/reliability.md.
"""

from __future__ import annotations

import random
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import botocore.exceptions
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

# The request's time budget lives in ``shared.budget`` (no botocore there: ``shared.http``
# starts it for every function); its names are this module's too, as callers use them.
from ..budget import BudgetExhausted, check_budget, remaining
from ..budget import budget as budget
from ..budget import clear_budget as clear_budget
from ..budget import start_budget as start_budget
from ..config import settings

# Errors after which a write may or may not have been applied: it was sent, and the
# answer never came. (A refused connection is not one: the store is down, the write
# did not reach it, and the caller gets its 503 at once.)
_UNKNOWN_OUTCOME = (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError)
# Answers after which the same write may simply be sent again.
_RETRY_CODES = {
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
}


def _one_call_fits() -> bool:
    cfg = settings()
    return remaining() > cfg.store_timeout_seconds + 1  # read timeout + connect timeout


# -- errors ---------------------------------------------------------------------------------


def _code(exc: BaseException) -> str | None:
    cause = getattr(exc, "cause", None) or exc.__cause__
    if isinstance(cause, botocore.exceptions.ClientError):
        return cause.response.get("Error", {}).get("Code")
    return getattr(exc, "cause_response_code", None)


def _outcome_unknown(exc: BaseException) -> bool:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNKNOWN_OUTCOME):
            return True
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return _code(exc) in _RETRY_CODES


def is_condition_failure(exc: BaseException) -> bool:
    """A write refused by its condition, or a transaction cancelled by one of its
    conditions or by a concurrent transaction on the same item (not an outage)."""
    return _code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException")


def _send(call):
    """Run an idempotent write: again after an unknown outcome, while a call fits."""
    check_budget()
    delay = 0.05
    while True:
        try:
            return call()
        except PynamoDBException as exc:
            if not _outcome_unknown(exc) or not _one_call_fits():
                raise
        time.sleep(min(delay, max(0.0, remaining() - settings().store_timeout_seconds - 1)))
        delay = min(delay * 2, 0.5)


# -- single-item writes ---------------------------------------------------------------------


def _attempt() -> str:
    return uuid.uuid4().hex


def update(item, actions: list, condition) -> bool:
    """A conditional UpdateItem that may be sent more than once: True when written
    (by this request), False when the condition failed (someone else's state)."""
    model = type(item)
    attempt = _attempt()
    guarded = condition | (model.attempt == attempt)
    try:
        _send(lambda: item.update(actions=[*actions, model.attempt.set(attempt)], condition=guarded))
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def update_counter(item, actions: list, condition) -> bool:
    """A counter's conditional UpdateItem (``ADD``, or a window restarted), not made
    idempotent: True when written, False when the condition failed."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def put_new(item) -> bool:
    """Create ``item`` unless an item with its key exists: True when created by this
    request, False when it already existed."""
    model = type(item)
    item.attempt = _attempt()
    try:
        _send(lambda: item.save(condition=model.pk.does_not_exist() | (model.attempt == item.attempt)))
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


# -- transactions ---------------------------------------------------------------------------


def _only_conflicts(exc: TransactWriteError) -> bool:
    """A transaction cancelled only because another transaction was writing one of
    its items at that moment (``TransactionConflict``), none of its conditions failed:
    nothing was applied, and the same writes may simply be sent again. (Shared hot
    items, such as the statistics' counter shards, make this happen under load.)"""
    if _code(exc) != "TransactionCanceledException":
        return False
    try:
        reasons = exc.cancellation_reasons or []
    except AttributeError:
        return False
    codes = [r.code for r in reasons if r is not None and r.code not in (None, "None")]
    return bool(codes) and all(code == "TransactionConflict" for code in codes)


class IdempotentTransactWrite(TransactWrite):
    """A ``TransactWrite`` whose commit is sent again, with the same
    ``ClientRequestToken``, after an unknown outcome: DynamoDB answers a repeat with
    the first outcome instead of applying it twice. A commit cancelled by a conflict
    with a concurrent transaction is sent again too, after a short random pause and
    with a new token (that one is known to have applied nothing), while a call fits."""

    def _commit(self):
        pause = 0.02
        while True:
            try:
                return _send(super()._commit)
            except TransactWriteError as exc:
                if not _only_conflicts(exc):
                    raise
                if not _one_call_fits():
                    raise BudgetExhausted("transaction kept conflicting until the budget ran out") from exc
            self._client_request_token = _attempt()
            time.sleep(random.uniform(0, pause))
            pause = min(pause * 2, 0.2)

    def include(self, operations) -> None:
        """Add operations another module prepared, as ``(method, item, kwargs)`` with
        method ``save``, ``update``, ``delete`` or ``condition_check``."""
        for method, item, kwargs in operations:
            getattr(self, method)(item, **kwargs)


def new_transaction(connection) -> IdempotentTransactWrite:
    return IdempotentTransactWrite(connection=connection, client_request_token=_attempt())


def refused_keys(tx: TransactWrite, exc: BaseException | None) -> set[tuple[str, str]]:
    """The keys of the items of ``tx`` whose condition failed, from the cancellation
    reasons DynamoDB gives one per item, in the order pynamodb sends them (condition
    checks, deletes, puts, updates). Empty when ``exc`` is no cancellation: a caller
    that folds several checks into one transaction learns which one refused."""
    reasons = getattr(exc, "cancellation_reasons", None) or []
    operations = [*tx._condition_check_items, *tx._delete_items, *tx._put_items, *tx._update_items]
    refused = set()
    for operation, reason in zip(operations, reasons):
        if reason is not None and reason.code == "ConditionalCheckFailed":
            key = operation.get("Key") or operation.get("Item") or {}
            if "pk" in key and "sk" in key:
                refused.add((key["pk"]["S"], key["sk"]["S"]))
    return refused


@contextmanager
def conflict_as(error: Exception) -> Iterator[None]:
    """Turn a failed condition into a domain error (``errors.Conflict(...)``)."""
    try:
        yield
    except (TransactWriteError, UpdateError, PutError) as exc:
        if not is_condition_failure(exc):
            raise
        raise error from exc
