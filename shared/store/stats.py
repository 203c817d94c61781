"""Counters of the public statistics, and the cursor of the expiry run.

A counter is a number attribute of a shard item (``StatsShard``): ``mandates_created``,
``demarches_done``, ``cat:papiers``, ``month:2025-03:demarches_done`` (``shared.stats``
names them). An event adds its deltas (``ADD``, never a read-modify-write) to ONE
shard, chosen by a hash of the event's id, inside the event's own transaction; a
figure is the sum of its attribute over every shard, read with one BatchGetItem.

Why shards: a DynamoDB transaction touching an item that another transaction is
writing is cancelled (``TransactionConflict``). With one counter item, every token
issued and every mandate signed at the same moment would collide on it; spread over
``STATS_SHARDS`` items, two concurrent events meet on the same item once in
``STATS_SHARDS``, and ``store.writes`` sends a transaction cancelled only by such a
conflict again. Why one item per shard holding every counter (rather than one item
per counter and shard): an event then adds one operation to its transaction whatever
the number of counters it moves (a token: the total, its category, its month), and
reading every figure is one BatchGet of ``STATS_SHARDS`` keys, whatever the number of
months.
"""

from __future__ import annotations

import zlib
from datetime import date

from pynamodb.attributes import UnicodeAttribute
from pynamodb.expressions.operand import Path

from .base import Item

# Readers sum every shard: never lower it (counts already written would no longer be
# read). Raising it is safe. 16 keys: one BatchGetItem (at most 100 keys).
STATS_SHARDS = 16
SHARD_PREFIX = "STATS#"
STATS_SORT_KEY = "STATS"
_KIND = "stats_shard"


def shard_of(event_id: str) -> int:
    """The shard an event's deltas go to: the same for a re-sent transaction."""
    return zlib.crc32(event_id.encode()) % STATS_SHARDS


def shard_key(shard: int) -> tuple[str, str]:
    return f"{SHARD_PREFIX}{shard:02d}", STATS_SORT_KEY


class StatsShard(Item, discriminator=_KIND):
    """pk ``STATS#<00-15>`` sk ``STATS``: one shard of every counter.

    Created by the first ``ADD`` that reaches it (no read, no put): its counters are
    attributes that the model does not declare, read as raw numbers by
    :meth:`read_all`; only these two methods write it."""

    @classmethod
    def add_actions(cls, deltas: dict[str, int]) -> list:
        """Update actions adding ``deltas`` (name → amount, negative to subtract), and
        the discriminator on the item's first write (every item of the table has one)."""
        kind = Path(["kind"])
        return [kind.set(kind | _KIND)] + [
            Path([name]).add(amount) for name, amount in sorted(deltas.items()) if amount
        ]

    @classmethod
    def for_event(cls, event_id: str) -> "StatsShard":
        return cls(*shard_key(shard_of(event_id)))

    @classmethod
    def read_all(cls, consistent: bool = False) -> list[dict[str, int]]:
        """Every shard's counters (a shard never written is absent): one BatchGetItem,
        again for the keys DynamoDB left unprocessed, if any."""
        keys = [dict(zip(("pk", "sk"), shard_key(shard))) for shard in range(STATS_SHARDS)]
        found = []
        while keys:
            items, keys = cls._batch_get_page(keys, consistent_read=consistent, attributes_to_get=None)
            for raw in items or []:
                found.append({name: int(value["N"]) for name, value in raw.items() if "N" in value})
        return found


class ExpiryCursor(Item, discriminator="stats_expiry_cursor"):
    """pk ``STATS#EXPIRY`` sk ``STATS``: the last UTC day whose expired mandates the
    scheduled run has all counted (``shared.stats.expiry``). Only moved forward
    (conditional write), so a late run cannot move it back."""

    done_through = UnicodeAttribute()  # yyyy-mm-dd

    @staticmethod
    def key() -> tuple[str, str]:
        return f"{SHARD_PREFIX}EXPIRY", STATS_SORT_KEY

    @classmethod
    def read(cls) -> date | None:
        try:
            return date.fromisoformat(cls.get(*cls.key(), consistent_read=True).done_through)
        except cls.DoesNotExist:
            return None

    @classmethod
    def advance(cls, day: date) -> bool:
        """Record that every mandate expiring on or before ``day`` is counted; False if
        the cursor is already there or further."""
        from . import writes

        value = day.isoformat()
        item = cls(*cls.key(), done_through=value)
        kind = Path(["kind"])
        return writes.update(
            item,
            [cls.done_through.set(value), kind.set(kind | "stats_expiry_cursor")],
            cls.done_through.does_not_exist() | (cls.done_through < value),
        )


def table_created_on() -> date:
    """The UTC day the table was created: nothing in it is older (the backfill reads
    the journal from there)."""
    from datetime import datetime, timezone

    created = Item._get_connection().describe_table().get("CreationDateTime")
    if isinstance(created, (int, float)):
        created = datetime.fromtimestamp(created, timezone.utc)
    return created.astimezone(timezone.utc).date()
