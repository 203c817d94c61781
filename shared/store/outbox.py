"""The outbox: e-mails to send, written in the same transaction as the change they
report, delivered by the ``notify`` function (``shared.notifications``)."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from .base import Item

PENDING_SHARDS = 4  # pending items are spread over this many gsi1 partitions (of each priority)
FAILED_PARTITION = "OUTBOX#FAILED"


def pending_partition(shard: int, urgent: bool = False) -> str:
    """Urgent items (those with a ``deliver_by``: login links) have partitions of
    their own, which a delivery run reads first and again every second, so that a
    backlog of ordinary e-mails never holds a link back."""
    return f"OUTBOX#{'URGENT' if urgent else 'PENDING'}#{shard}"


def due_key(at: int, item_id: str) -> str:
    """gsi1 sort key of a pending item: when it may next be tried (epoch seconds,
    zero-padded so that strings sort as numbers)."""
    return f"{at:010d}#{item_id}"


class OutboxItem(Item, discriminator="outbox"):
    """pk ``OUTBOX#<id>`` sk ``OUTBOX``.

    While pending (sparse): gsi1 ``OUTBOX#PENDING#<shard>`` / ``<next attempt epoch>#<id>``,
    or ``OUTBOX#URGENT#<shard>`` for an item with a ``deliver_by`` (a login link), so
    the scheduled run finds what is due with one Query per shard, urgent ones first,
    never a Scan.
    A delivery in progress holds a lease (``sending_until``, ``lease_owner``) and moves
    the sort key to the lease's end: if the process dies mid-send, the item is due
    again when the lease runs out.

    Sent: the index keys and the context are removed and a TTL is set. Expired (its
    ``deliver_by`` passed before it could be sent: a dead login link, never sent):
    the same, with status ``expired``; nothing for ops to do, the aidant asks again.
    Failed: gsi1 ``OUTBOX#FAILED`` / ``<iso time>#<id>``, no TTL: ops see it and
    may requeue it.

    ``sealed_context`` is the JSON rendering context sealed with the service key
    (``shared.crypto.seal``, bound to the item's key): a login link is as good as a
    session for five minutes and must not sit in clear in the table.
    """
    id = UnicodeAttribute()
    template = UnicodeAttribute()  # shared/templates/mail/<template>.{subject.txt,txt,html}
    recipient = UnicodeAttribute()
    sealed_context = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="pending")  # pending | sent | failed | expired
    attempts = NumberAttribute(default=0)
    max_attempts = NumberAttribute()
    next_attempt_at = NumberAttribute()  # epoch seconds
    deliver_by = NumberAttribute(null=True)  # epoch seconds; later, the mail is useless
    sending_until = NumberAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    failed_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)

    @staticmethod
    def key(item_id: str) -> tuple[str, str]:
        return f"OUTBOX#{item_id}", "OUTBOX"

    @property
    def message_id(self) -> str:
        """Stable per item, derived from its id alone: should a delivery ever be
        repeated (a crash between the relay's acceptance and the item's marking),
        mail clients and our own checks see the same message twice, not two."""
        return f"<outbox-{self.id}@aidantsconnect.beta.gouv.fr>"
