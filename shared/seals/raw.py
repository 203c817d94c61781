"""The table's items as stored: raw attribute values, each with its type, which is
what an entry's digest covers (a model would drop or convert what it does not
know). Read by key only: Queries of one partition, GetItem."""
from __future__ import annotations

from typing import Iterator

from ..store import Item


def query(hash_key: str, condition=None, *, index: str | None = None, forward: bool = True,
          consistent: bool = False, page_size: int | None = None) -> Iterator[dict]:
    connection = Item._get_connection()
    start = None
    while True:
        page = connection.query(hash_key, range_key_condition=condition, index_name=index, limit=page_size,
                                exclusive_start_key=start, scan_index_forward=forward, consistent_read=consistent)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def journal_entry(entry_id: str) -> dict | None:
    """One journal entry by its key (strongly consistent), or None."""
    found = Item._get_connection().get_item(f"JOURNAL#{entry_id}", "JOURNAL", consistent_read=True)
    return found.get("Item")
