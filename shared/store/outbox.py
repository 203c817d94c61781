"""The outbox: e-mails to send, written in the same transaction as the change they
report, delivered by the ``notify`` function (``shared.notifications``).

Every write of an item's delivery state and every read of the index is a method
here, so the key and index layout stays in this module; the rules (when to claim,
retry, give up) are ``shared.notifications``'s.
"""

from __future__ import annotations

import zlib
from datetime import timezone

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError

from .base import Item, now
from .writes import is_condition_failure

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


def _shard(item_id: str) -> int:
    return zlib.crc32(item_id.encode()) % PENDING_SHARDS


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
    # The training sandbox only: the structure whose inbox page shows this e-mail
    # instead of sending it (shared.sandbox.inbox); never set in production.
    inbox = UnicodeAttribute(null=True)

    @staticmethod
    def key(item_id: str) -> tuple[str, str]:
        return f"OUTBOX#{item_id}", "OUTBOX"

    @property
    def message_id(self) -> str:
        """Stable per item, derived from its id alone: should a delivery ever be
        repeated (a crash between the relay's acceptance and the item's marking),
        mail clients and our own checks see the same message twice, not two."""
        return f"<outbox-{self.id}@aidantsconnect.beta.gouv.fr>"

    # -- a new item (written in its caller's transaction) --------------------------------

    @classmethod
    def pending(cls, item_id: str, due: int, **attributes) -> "OutboxItem":
        """A pending item due at ``due``, in the pending index of its priority."""
        item = cls(*cls.key(item_id), id=item_id, status="pending", attempts=0, **attributes)
        item.gsi1pk = pending_partition(_shard(item_id), urgent=item.deliver_by is not None)
        item.set_due(due)
        return item

    def set_due(self, at: int) -> None:
        """When a pending item not written yet may next be tried."""
        self.next_attempt_at = at
        self.gsi1sk = due_key(at, self.id)

    @staticmethod
    def new_condition():
        return OutboxItem.pk.does_not_exist()

    # -- reading the index ---------------------------------------------------------------

    @classmethod
    def due_page(cls, partition: str, at: int, limit: int, after: dict | None = None) -> list["OutboxItem"]:
        """Up to ``limit`` items of one pending partition due at ``at``, oldest first,
        after the index position ``after`` (``index_position``)."""
        return list(cls.gsi1.query(partition, cls.gsi1sk <= due_key(at, "~"), limit=limit, last_evaluated_key=after))

    @classmethod
    def due_count(cls, partition: str, at: int) -> int:
        """How many items of one pending partition are due at ``at`` (a counting Query)."""
        return cls.gsi1.count(partition, cls.gsi1sk <= due_key(at, "~"))

    def index_position(self) -> dict:
        """Where a Query of the pending index resumes after this item (as read: a
        delivery rewrites the sort key on the object)."""
        return {"pk": {"S": self.pk}, "sk": {"S": self.sk}, "gsi1pk": {"S": self.gsi1pk}, "gsi1sk": {"S": self.gsi1sk}}

    @property
    def due_position(self) -> str:
        """Its place in the pending index: when it is due, then its id."""
        return self.gsi1sk

    @classmethod
    def failed(cls, limit: int) -> list["OutboxItem"]:
        """Failed items, newest first."""
        return list(cls.gsi1.query(FAILED_PARTITION, scan_index_forward=False, limit=limit))

    # -- delivery: conditional writes, False when the condition failed ---------------------

    def _update(self, actions: list, condition) -> bool:
        """The item as the write leaves it is read back into this object (ALL_NEW)."""
        try:
            self.update(actions=actions, condition=condition)
            return True
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise

    @staticmethod
    def _unleased(at: int):
        return OutboxItem.sending_until.does_not_exist() | (OutboxItem.sending_until < at)

    def claim(self, at: int, owner: str, lease_end: int, skew: int) -> bool:
        """A lease for one attempt: only if still pending, due (within ``skew``), and
        not leased by a live delivery. Its sort key moves to the lease's end."""
        return self._update(
            [
                OutboxItem.attempts.add(1),
                OutboxItem.sending_until.set(lease_end),
                OutboxItem.lease_owner.set(owner),
                OutboxItem.gsi1sk.set(due_key(lease_end, self.id)),
            ],
            OutboxItem.pk.exists()
            & (OutboxItem.status == "pending")
            & (OutboxItem.next_attempt_at <= at + skew)
            & self._unleased(at),
        )

    def _release(self, owner: str, actions: list) -> bool:
        """A write only the lease holder may make."""
        return self._update(
            actions + [OutboxItem.sending_until.remove(), OutboxItem.lease_owner.remove()],
            OutboxItem.lease_owner == owner,
        )

    def _done(self, status: str, keep_until: int) -> list:
        """Out of the index, its context gone (a login link must not outlive its sending)."""
        return [
            OutboxItem.status.set(status),
            OutboxItem.sealed_context.remove(),
            OutboxItem.gsi1pk.remove(),
            OutboxItem.gsi1sk.remove(),
            OutboxItem.ttl.set(keep_until),
        ]

    def mark_sent(self, owner: str, keep_until: int) -> bool:
        return self._release(
            owner, self._done("sent", keep_until) + [OutboxItem.sent_at.set(now()), OutboxItem.last_error.remove()]
        )

    def _expired(self, reason: str, keep_until: int) -> list:
        return self._done("expired", keep_until) + [OutboxItem.failed_at.set(now()), OutboxItem.last_error.set(reason)]

    def expire_claimed(self, owner: str, reason: str, keep_until: int) -> bool:
        """A link that died while this delivery held it."""
        return self._release(owner, self._expired(reason, keep_until))

    def expire(self, at: int, reason: str, keep_until: int) -> bool:
        """A dead link found in the index, unclaimed: only if still pending and not
        held by a live delivery."""
        return self._update(
            self._expired(reason, keep_until),
            (OutboxItem.status == "pending") & (OutboxItem.deliver_by < at + 1) & self._unleased(at),
        )

    def reschedule(self, owner: str, due: int, reason: str) -> bool:
        """The lease holder's failed attempt: due again at ``due``."""
        return self._release(
            owner,
            [
                OutboxItem.next_attempt_at.set(due),
                OutboxItem.gsi1sk.set(due_key(due, self.id)),
                OutboxItem.last_error.set(reason),
            ],
        )

    def give_up(self, owner: str, status: str, reason: str) -> bool:
        """The lease holder's last word: into the failed partition, for ops."""
        moment = now()
        stamp = moment.astimezone(timezone.utc).isoformat(timespec="seconds")
        return self._release(
            owner,
            [
                OutboxItem.status.set(status),
                OutboxItem.failed_at.set(moment),
                OutboxItem.last_error.set(reason),
                OutboxItem.gsi1pk.set(FAILED_PARTITION),
                OutboxItem.gsi1sk.set(f"{stamp}#{self.id}"),
            ],
        )

    def requeue(self, due: int) -> bool:
        """A failed item, pending again with a fresh set of attempts, due at ``due``."""
        return self._update(
            [
                OutboxItem.status.set("pending"),
                OutboxItem.attempts.set(0),
                OutboxItem.next_attempt_at.set(due),
                OutboxItem.failed_at.remove(),
                OutboxItem.gsi1pk.set(pending_partition(_shard(self.id), urgent=self.deliver_by is not None)),
                OutboxItem.gsi1sk.set(due_key(due, self.id)),
            ],
            OutboxItem.status == "failed",
        )
