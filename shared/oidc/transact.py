"""``TransactWrite`` on one connection per process.

A pynamodb ``Connection`` builds its botocore client on first use, which costs about
0.1 s of CPU; building one per transaction (three per FranceConnect login) would
cost more than the whole flow's budget (DESIGN.md §7). botocore clients are
thread-safe, so the waitress threads share this one."""
from __future__ import annotations

import threading

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from ..store import transaction_kwargs

_lock = threading.Lock()
_connections: dict[tuple, Connection] = {}


def connection() -> Connection:
    kwargs = transaction_kwargs()
    key = tuple(sorted(kwargs.items()))  # tests point the store elsewhere between cases
    found = _connections.get(key)
    if found is None:
        with _lock:
            found = _connections.get(key)
            if found is None:
                found = Connection(**kwargs)
                found.client  # build it now, once, under the lock
                _connections[key] = found
    return found


def write() -> TransactWrite:
    return TransactWrite(connection=connection())
