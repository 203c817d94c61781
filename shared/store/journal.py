"""The append-only journal and the seals that make tampering with it detectable."""
from __future__ import annotations

import zlib
from datetime import datetime, timezone

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from .base import Item

# Entries of one UTC day are spread over this many index partitions, so that every
# journal write of the moment does not land on one gsi3 partition. Readers query
# every shard: never lower it (entries already written would no longer be read).
JOURNAL_SHARDS = 4
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
    details = MapAttribute(null=True)


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
