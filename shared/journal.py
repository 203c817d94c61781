"""The append-only journal: what someone accountable did (an aidant with a session,
an aidant whose code was right, an authenticated client, staff), for whom, and their
refused attempts. Anonymous requests leave log lines instead (``shared.anonymous``).

``entry()`` builds an item to put in a ``TransactWrite`` with the change it
describes; ``record()`` writes one on its own. Both write with
``attribute_not_exists(pk)``: an entry is never overwritten. Every entry also carries
its gsi3 key (its UTC day and a shard), so that ``shared.journal_seal`` can read a
time range by key and seal it: no extra store call on the request path.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from . import crypto
from .store import JournalEntry, Operation, writes
from .store.journal import iso_ms

# Actions, named once so that a typo cannot silently create a new kind of entry.
# Refused logins are not journaled: nobody accountable made them (shared.anonymous).
LOGIN_SUCCEEDED = "login_succeeded"
LOGIN_LINK_SENT = "login_link_sent"
SESSION_OPENED = "session_opened"
LOGOUT = "logout"
OTP_REFUSED = "otp_refused"  # a wrong or replayed code confirming an action


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_entry_id(ms: int | None = None) -> str:
    # Millisecond time first so ids sort chronologically; random tail for uniqueness.
    return f"{_now_ms() if ms is None else ms:013d}{crypto.new_id(6)}"


def entry(
    action: str,
    *,
    aidant_id: str | None = None,
    structure_id: str | None = None,
    usager_id: str | None = None,
    mandate_id: str | None = None,
    demarche: str | None = None,
    client_id: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> JournalEntry:
    # One clock reading for the id, ``at`` and the index keys: the seal run places an
    # entry in time by its id, and reads it where ``at`` puts it.
    ms = _now_ms()
    entry_id = new_entry_id(ms)
    at = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return JournalEntry.new(
        entry_id,
        iso_ms(ms),
        action=action,
        aidant_id=aidant_id,
        structure_id=structure_id,
        usager_id=usager_id,
        mandate_id=mandate_id,
        demarche=demarche,
        client_id=client_id,
        reason=reason,
        details={k: str(v) for k, v in (details or {}).items()} or None,
        created_at=at,
    )


def append_condition():
    return JournalEntry.pk.does_not_exist()


def operation(item: JournalEntry) -> Operation:
    """The entry as one operation of another module's transaction (``tx.include``)."""
    return ("save", item, {"condition": append_condition()})


def record(action: str, **fields: Any) -> JournalEntry:
    item = entry(action, **fields)
    # Idempotent: a copy re-sent after a timeout is not refused as an overwrite.
    writes.put_new(item)
    return item


def for_structure(structure_id: str, limit: int = 50) -> list[JournalEntry]:
    return JournalEntry.of_structure(structure_id, limit)


def for_aidant(aidant_id: str, limit: int = 50) -> list[JournalEntry]:
    return JournalEntry.of_aidant(aidant_id, limit)
