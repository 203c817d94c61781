"""The one DynamoDB table, its indexes, and how we talk to it.

Every entity is a pynamodb subclass of :class:`Item`, told apart by the ``kind``
discriminator. Keys are strings of the form ``KIND#id``, built by the models
(``Model.key(...)`` and the named access patterns of ``store/*.py``) and nowhere else;
the access patterns are listed in ``shared/README.md``.

Reads: :meth:`Item.find` (GetItem), :func:`read` (BatchGetItem), :func:`partition`
(a Query of one partition, grouped by model), :func:`query_values`. Writes:
``store/writes.py`` for single items, :func:`transaction` for several.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from typing import Callable, ClassVar, Iterable, Iterator, TypeVar, cast

import botocore.exceptions
from pynamodb.attributes import (
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection.base import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TableError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from .. import budget
from ..config import settings
from . import botocore_patches, instrumentation, writes

instrumentation.install()
botocore_patches.apply()

Key = tuple[str, str]
Operation = tuple[str, "Item", dict]  # (save|update|delete|condition_check, item, its kwargs)
M = TypeVar("M", bound="Item")


def now() -> datetime:
    return datetime.now(timezone.utc)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def iso(moment: datetime) -> str:
    """Seconds precision: the dates of the API and of the mandate indexes' sort keys."""
    return moment.isoformat(timespec="seconds")


_OUTAGE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "InternalFailure",
    "ResourceNotFoundException",
}


def is_outage(exc: BaseException) -> bool:
    """True when the store, not the request, is at fault: answer 503, never 500."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            (
                writes.BudgetExhausted,
                botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectionError,
                botocore.exceptions.ReadTimeoutError,
                botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.NoCredentialsError,
                ConnectionError,
                TimeoutError,
            ),
        ):
            return True
        if isinstance(current, PynamoDBException) and getattr(current, "cause_response_code", None) in _OUTAGE_CODES:
            return True
        if (
            isinstance(current, botocore.exceptions.ClientError)
            and current.response.get("Error", {}).get("Code") in _OUTAGE_CODES
        ):
            return True
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return False


def unicode_list(null: bool | None = None) -> ListAttribute[str]:
    """A list of strings. pynamodb types a list's elements as the class given in
    ``of``, which is true of maps only: the elements of ``of=UnicodeAttribute`` are str."""
    return cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, null=null))


class Gsi1(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class Gsi3(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class _Expiry(threading.local):
    """The sandbox's rule for what expires (``configure``): in the production profile
    ``days`` is None and nothing below happens. In the sandbox every item a request
    writes without a ``ttl`` gets one, so that nothing a trainee does stays in the
    table: the end of the trainee's account when the request acts for one
    (:func:`expiring`, set by ``shared.sessions`` from the session's structure and
    by the sign-up), otherwise ``days`` from now (the identity provider's back
    channel, the e-mail delivery)."""

    days: int | None = None
    at: float | None = None  # epoch seconds (a stored ttl): the trainee's end, for this request (thread)


_expiry = _Expiry()


class expiring:
    """``with expiring(epoch):`` (or ``expiring.set(epoch)`` for the rest of a
    request): items written without a ``ttl`` expire then (sandbox profile only)."""

    def __init__(self, at: float | None):
        self.at, self.before = at, None

    def __enter__(self):
        self.before, _expiry.at = _expiry.at, self.at
        return self

    def __exit__(self, *exc_info):
        _expiry.at = self.before

    @staticmethod
    def set(at: float | None) -> None:
        _expiry.at = at

    @staticmethod
    def clear() -> None:
        _expiry.at = None


# A request starts with no trainee's end: ``shared.sessions`` sets it again for the
# one this request acts for (waitress reuses its threads, and with them this value).
budget.on_request_start(expiring.clear)


def default_ttl() -> float | None:
    """The ``ttl`` an item written now without one gets: None outside the sandbox."""
    if _expiry.days is None:
        return None
    return _expiry.at or epoch(now()) + _expiry.days * 86400


def expired(item: "Item | None", at: float | None = None) -> bool:
    """An item past its ``ttl`` is gone, whatever DynamoDB has not deleted yet (TTL
    deletion is late on AWS, never on DynamoDB Local or moto). Items that carry no
    ``ttl`` (every account and mandate in production) never expire."""
    ttl = getattr(item, "ttl", None)
    return ttl is not None and ttl <= (time.time() if at is None else at)


class Item(Model):
    # Kept in the sandbox too (no default ``ttl``): configuration written by the
    # deployment, not by a trainee (the demo site's client registration).
    sandbox_permanent = False

    class Meta:
        table_name = "aidants-connect"
        region = "eu-west-3"
        host: str | None = None  # None: AWS itself (configure())
        billing_mode = "PAY_PER_REQUEST"
        # A store outage must become a quick 503, not a request hanging for a minute.
        connect_timeout_seconds = 1
        read_timeout_seconds: float = 2
        max_retry_attempts = 1

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute(attr_name="kind")
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    # Epoch seconds; DynamoDB's TTL deletes the item some time after it. Not a
    # TTLAttribute on purpose: we never want pynamodb to refuse a past value, and
    # expiry is always checked in code or in a write condition as well.
    ttl = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    # The request that last wrote the item through ``store.writes``: a re-sent copy of
    # that same write is then recognised as its own, not refused by its condition.
    attempt = UnicodeAttribute(null=True)

    gsi1 = Gsi1()
    gsi2 = Gsi2()
    gsi3 = Gsi3()

    # Each model's key from its id(s), a static method of its own (:meth:`find`).
    key: ClassVar[Callable[..., Key]]

    @classmethod
    def _get_connection(cls):
        # pynamodb builds one botocore client per model class (~0.1 s each, per
        # process); every class here lives in the same table, so they share one.
        if Item.__dict__.get("_connection") is None:
            Model._get_connection.__func__(Item)
        return Item.__dict__["_connection"]

    def __repr__(self) -> str:  # never print attribute values: some are secrets
        return f"<{type(self).__name__} {self.pk} {self.sk}>"

    def _get_save_args(self, *args, **kwargs):
        # The one path of every PutItem, alone or in a TransactWrite (pynamodb builds
        # both from it): the sandbox's default ``ttl`` is applied here, not at each
        # of the dozens of places that create items.
        if _expiry.days is not None and self.ttl is None and not self.sandbox_permanent:
            self.ttl = default_ttl()
        return super()._get_save_args(*args, **kwargs)

    @classmethod
    def find(cls: type[M], *key_parts: str, consistent: bool = False) -> M | None:
        """GetItem of the item ``cls.key(*key_parts)``, None when there is none."""
        try:
            return cls.get(*cls.key(*key_parts), consistent_read=consistent)
        except DoesNotExist:
            return None


def read(keys: Iterable[Key], consistent: bool = False) -> dict[Key, Item]:
    """One BatchGetItem: the items found, by ``(pk, sk)`` (a missing one is absent)."""
    return {(i.pk, i.sk): i for i in Item.batch_get(list(keys), consistent_read=consistent)}


class Partition(defaultdict[type, list[Item]]):
    """A partition's items, by their model (an empty list for a model it lacks)."""

    def of(self, model: type[M]) -> list[M]:
        # Each item is filed under its own class, so those under ``model`` are ``model``s.
        return cast("list[M]", self[model])


def partition(pk: str) -> Partition:
    """One Query on a partition (``pk``), its items grouped by model: an aidant and
    their devices, a mandate and its autorisations, a request and its messages."""
    found = Partition(list)
    for item in Item.query(pk):
        found[type(item)].append(item)
    return found


def first(items: list[M]) -> M | None:
    return items[0] if items else None


def query_values(
    model: type[Item],
    index: GlobalSecondaryIndex,
    hash_key: str,
    range_key_condition,
    names: list[str],
    as_stored: frozenset[str] = frozenset(),
) -> list[dict]:
    """A Query on ``index`` that returns, for each item, only the attributes ``names``
    as Python values (a missing one is None), without building model instances;
    those in ``as_stored`` as stored (a date's string, not a datetime parsed only to
    be written back as a string).

    For a request path that reads many items and few attributes of each: pynamodb
    sets every attribute of the class on every instance, which was most of the CPU of
    the identity provider's offer (every active autorisation of a structure)."""
    attributes = model.get_attributes()
    connection = model._get_connection()
    decode = [
        (name, attributes[name].attr_type, (lambda value: value) if name in as_stored else attributes[name].deserialize)
        for name in names
    ]
    found, start = [], None
    while True:
        page = connection.query(
            hash_key,
            range_key_condition=range_key_condition,
            attributes_to_get=names,
            index_name=index.Meta.index_name,
            exclusive_start_key=start,
        )
        for raw in page.get("Items", []):
            found.append({name: (convert(raw[name][kind]) if name in raw else None) for name, kind, convert in decode})
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def all_models() -> list[type[Item]]:
    found, todo = [], [Item]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def configure() -> None:
    """Point every model at the configured table (called at import and by tests)."""
    cfg = settings()
    for model in all_models():
        model.Meta.table_name = cfg.table_name
        model.Meta.host = cfg.dynamodb_host
        model.Meta.region = cfg.aws_region
        model.Meta.read_timeout_seconds = cfg.store_timeout_seconds
    Item._connection = None
    _Expiry.days = cfg.sandbox_trainee_days if cfg.sandbox else None


def transaction_kwargs() -> dict:
    cfg = settings()
    return {
        "region": cfg.aws_region,
        "host": cfg.dynamodb_host,
        "connect_timeout_seconds": 1,
        "read_timeout_seconds": cfg.store_timeout_seconds,
        "max_retry_attempts": 1,
    }


_tx_lock = threading.Lock()
_tx_connections: dict[tuple, Connection] = {}


def _transaction_connection() -> Connection:
    """One connection per process and configuration.

    A pynamodb ``Connection`` builds its botocore client on first use (~0.1 s of CPU);
    one per transaction would cost more than a whole identity-provider flow
    (docs/performance.md). botocore clients are thread-safe, so waitress's threads share it."""
    kwargs = transaction_kwargs()
    key = tuple(sorted(kwargs.items()))  # tests point the store elsewhere between cases
    found = _tx_connections.get(key)
    if found is None:
        with _tx_lock:
            found = _tx_connections.get(key)
            if found is None:
                found = Connection(**kwargs)
                _ = found.client  # build it now, once, under the lock
                _tx_connections[key] = found
    return found


@contextmanager
def transaction(conflict: Exception | None = None) -> Iterator[writes.IdempotentTransactWrite]:
    """``with transaction(errors.Conflict(...)) as tx:`` one ``TransactWriteItems``,
    committed when the block ends, all or nothing: the one way several items are
    written together.

    Idempotent (``ClientRequestToken``) and sent again after an unknown outcome
    (``store/writes.py``). A condition that fails (or a concurrent transaction on one
    of its items) raises ``conflict``, the caller's domain error; without one, the
    store's own error goes up: for transactions whose conditions only guard fresh
    random keys, where a refusal is a bug, not a race. ``tx.include(operations)``
    adds the operations another module prepared (:data:`Operation`)."""
    with writes.conflict_as(conflict) if conflict is not None else nullcontext():
        with writes.new_transaction(_transaction_connection()) as tx:
            yield tx


def create_table(wait: bool = True) -> bool:
    """Create the table with its indexes and TTL; False if it already existed."""
    configure()
    if Item.exists():
        return False
    try:
        Item.create_table(wait=wait, billing_mode="PAY_PER_REQUEST", ignore_update_ttl_errors=True)
    except TableError as exc:
        # Under load the first CreateTable can time out client-side yet succeed on the
        # server; pynamodb's retry then meets the table it just created.
        if exc.cause_response_code != "ResourceInUseException":
            raise
    try:
        Item._get_connection().connection.update_time_to_live(Item.Meta.table_name, "ttl")
    except PynamoDBException as exc:
        if "already enabled" not in str(exc):
            raise
    return True
