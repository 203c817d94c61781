"""The append-only journal and the seals that make tampering with it detectable."""

from __future__ import annotations

import zlib
from datetime import datetime, timezone
from typing import Iterator

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from .base import Item, query_values

# Entries of one UTC day are spread over this many index partitions, so that every
# journal write of the moment does not land on one gsi3 partition. Readers query
# every shard: never lower it (entries already written would no longer be read).
JOURNAL_SHARDS = 4
JOURNAL_PREFIX = "JOURNAL#"  # every journal partition key (entries and seals) starts with it
SEALS_PARTITION = "JOURNAL#SEALS"


def journal_shard(entry_id: str) -> int:
    return zlib.crc32(entry_id.encode()) % JOURNAL_SHARDS


def day_partition(day: str, shard: int) -> str:
    """gsi3 partition of the entries of one UTC day (``yyyy-mm-dd``), one shard."""
    return f"JOURNAL#{day}#{shard}"


def entry_ms(entry_id: str) -> int:
    """An entry id starts with its time in milliseconds (13 digits)."""
    return int(entry_id[:13])


def iso_ms(ms: int) -> str:
    """The ``at`` of an entry written at ``ms``; its index sort keys start with it."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


class JournalEntry(Item, discriminator="journal"):
    """pk ``JOURNAL#<id>`` sk ``JOURNAL`` (ids start with the time in ms, so they
    sort by time); gsi1 ``STRUCTURE#<sid>#JOURNAL`` / ``<iso time>#<id>``; gsi2
    ``AIDANT#<aid>#JOURNAL`` / ``<iso time>#<id>``; gsi3 (every entry, read only by
    the seal run and verify) ``JOURNAL#<utc day>#<shard>`` / ``<iso time>#<id>``.
    Written only with ``attribute_not_exists(pk)`` and never updated or deleted by
    the code (and, in production, by IAM policy)."""

    id = UnicodeAttribute()
    action = UnicodeAttribute()
    at = UnicodeAttribute()  # ISO 8601 UTC, the same millisecond as the id
    aidant_id = UnicodeAttribute(null=True)
    structure_id = UnicodeAttribute(null=True)
    usager_id = UnicodeAttribute(null=True)
    mandate_id = UnicodeAttribute(null=True)
    demarche = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    details: MapAttribute[str, str] = MapAttribute(null=True)

    @staticmethod
    def key(entry_id: str) -> tuple[str, str]:
        return f"JOURNAL#{entry_id}", "JOURNAL"

    @classmethod
    def new(cls, entry_id: str, at: str, **attributes) -> "JournalEntry":
        """An entry (not saved) written at ``at`` (:func:`iso_ms`), on the indexes of
        its structure and aidant when it has them, and always on its day's."""
        item = cls(*cls.key(entry_id), id=entry_id, at=at, **attributes)
        position = f"{at}#{entry_id}"
        if item.structure_id:
            item.gsi1pk, item.gsi1sk = f"STRUCTURE#{item.structure_id}#JOURNAL", position
        if item.aidant_id:
            item.gsi2pk, item.gsi2sk = f"AIDANT#{item.aidant_id}#JOURNAL", position
        item.gsi3pk, item.gsi3sk = day_partition(at[:10], journal_shard(entry_id)), position
        return item

    @classmethod
    def of_structure(cls, structure_id: str, limit: int) -> list["JournalEntry"]:
        """A structure's journal, newest first: one Query on gsi1."""
        return list(cls.gsi1.query(f"STRUCTURE#{structure_id}#JOURNAL", scan_index_forward=False, limit=limit))

    @classmethod
    def of_aidant(cls, aidant_id: str, limit: int) -> list["JournalEntry"]:
        """An aidant's journal, newest first: one Query on gsi2."""
        return list(cls.gsi2.query(f"AIDANT#{aidant_id}#JOURNAL", scan_index_forward=False, limit=limit))


def entries_of_day(day: str, names: list[str]) -> list[dict]:
    """Every entry of a UTC day (``yyyy-mm-dd``), as the values of ``names``: one
    Query per shard (gsi3), paged, not in time order across shards."""
    found = []
    for shard in range(JOURNAL_SHARDS):
        found.extend(query_values(JournalEntry, JournalEntry.gsi3, day_partition(day, shard), None, names))
    return found


class JournalSeal(Item, discriminator="journal_seal"):
    """pk ``JOURNAL#SEALS`` sk ``SEAL#<seq, 12 digits>``: one link of the hash chain
    over the journal (``shared.seals``). It lists, as ``<id> <sha-256>`` lines,
    the entries whose time is in ``[from_ms, to_ms)`` (``entries``) and the entries
    of earlier ranges that committed after those ranges were sealed (``late``), and
    carries the previous seal's hash. Written once, with ``attribute_not_exists(pk)``
    (two runs cannot both write seal n: the chain cannot fork); never updated."""

    sandbox_permanent = True
    seq = NumberAttribute()
    from_ms = NumberAttribute()
    to_ms = NumberAttribute()
    recheck_from_ms = NumberAttribute()  # where this run looked again for late entries
    started_ms = NumberAttribute()  # when the run that wrote it started reading
    rechecked = BooleanAttribute()  # that run's late entries are all listed by now
    prev_hash = UnicodeAttribute()
    seal_hash = UnicodeAttribute()
    entries = UnicodeAttribute(null=True)
    late = UnicodeAttribute(null=True)
    entry_count = NumberAttribute()
    late_count = NumberAttribute()

    @staticmethod
    def key(seq: int) -> tuple[str, str]:
        return SEALS_PARTITION, f"SEAL#{seq:012d}"


# -- raw items: what a seal's digest covers ---------------------------------------------
# The seals hash an entry as DynamoDB stores it (every attribute with its type): a
# model would drop or convert what it does not know. Read by key only.


def _raw_query(
    hash_key: str,
    condition=None,
    *,
    index: str | None = None,
    forward: bool = True,
    consistent: bool = False,
    page_size: int | None = None,
) -> Iterator[dict]:
    connection = Item._get_connection()
    start = None
    while True:
        page = connection.query(
            hash_key,
            range_key_condition=condition,
            index_name=index,
            limit=page_size,
            exclusive_start_key=start,
            scan_index_forward=forward,
            consistent_read=consistent,
        )
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def raw_entry(entry_id: str) -> dict | None:
    """One journal entry as stored (strongly consistent), or None."""
    found = Item._get_connection().get_item(*JournalEntry.key(entry_id), consistent_read=True)
    return found.get("Item")


def raw_entries_of_day(day: str, shard: int, low: str, high: str) -> Iterator[dict]:
    """The entries of one UTC day (``YYYY-MM-DD``) and shard whose index position is
    between ``low`` and ``high`` (ISO times), as stored, in time order: gsi3."""
    return _raw_query(day_partition(day, shard), Item.gsi3sk.between(low, high), index="gsi3")


def raw_position(raw: dict) -> str:
    """An entry's position on its day's index (``<iso time>#<id>``), as stored."""
    return raw.get("gsi3sk", {}).get("S", "")


def raw_entry_id(raw: dict) -> str:
    return raw.get("pk", {}).get("S", "").removeprefix(JOURNAL_PREFIX)


def raw_seals(*, newest_first: bool = False, page_size: int | None = None) -> Iterator[dict]:
    """The seal chain as stored, strongly consistent (a run must see the seal the
    previous run wrote); newest first reads only what it needs, a page at a time."""
    return _raw_query(
        SEALS_PARTITION, Item.sk.startswith("SEAL#"), forward=not newest_first, consistent=True, page_size=page_size
    )
