"""The training sandbox's own items (shared/sandbox/): what replaces e-mail there."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from .base import Item


class InboxMessage(Item, discriminator="sandbox_inbox"):
    """pk ``INBOX#<structure id>`` sk ``MESSAGE#<iso time the e-mail was written>#<outbox id>``:
    an e-mail of the sandbox, delivered to the trainee's inbox page instead of a
    mailbox. Keyed by the outbox item it comes from, so a delivery done twice (a
    lease that ran out) writes the same message, not a second one. Carries the
    ``ttl`` of what it reports (the trainee's end)."""

    outbox_id = UnicodeAttribute()
    template = UnicodeAttribute()
    recipient = UnicodeAttribute()
    subject = UnicodeAttribute()
    text = UnicodeAttribute()
    written_at = UTCDateTimeAttribute()

    @staticmethod
    def key(structure_id: str, written_at: datetime, outbox_id: str) -> tuple[str, str]:
        return f"INBOX#{structure_id}", f"MESSAGE#{written_at.isoformat(timespec='seconds')}#{outbox_id}"

    @classmethod
    def of_structure(cls, structure_id: str, limit: int) -> list["InboxMessage"]:
        """The structure's messages, newest first: one Query."""
        return list(
            cls.query(f"INBOX#{structure_id}", cls.sk.startswith("MESSAGE#"), scan_index_forward=False, limit=limit)
        )
