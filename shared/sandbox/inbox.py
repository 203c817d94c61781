"""The sandbox's e-mail: never sent, shown on the trainee's inbox page.

The outbox works as in production (the item written in the change's transaction,
the kick, the claim with a lease, the scheduled drain); only the last step differs:
``shared.notifications`` hands the rendered message to :func:`deliver` instead of
the SMTP relay, which writes it to the inbox of the structure the item names
(``OutboxItem.inbox``, set when the item is built in the sandbox). An e-mail that
names no trainee's inbox (the public accreditation form's) goes nowhere: it is
marked sent and logged. ``shared.notifications.smtp`` refuses to connect at all in
the sandbox profile, so no code path can reach a relay.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import TYPE_CHECKING

from ..store import InboxMessage, OutboxItem, default_ttl, now

if TYPE_CHECKING:
    from ..notifications.messages import Mail

log = logging.getLogger("aidants_connect.sandbox")

NO_INBOX = "~none"  # an e-mail of the sandbox that no trainee receives
PAGE = 50


def has_inbox(item: OutboxItem) -> bool:
    return bool(item.inbox) and item.inbox != NO_INBOX


def drop(item: OutboxItem) -> None:
    log.info("sandbox: outbox %s (%s) names no trainee's inbox: not delivered", item.id, item.template)


def deliver(item: OutboxItem, message: Mail | EmailMessage) -> None:
    """Write the message to its inbox (idempotent: keyed by the outbox item)."""
    written = item.created_at or now()
    part = message.get_body(("plain",))
    InboxMessage(
        *InboxMessage.key(item.inbox, written, item.id),
        outbox_id=item.id,
        template=item.template,
        recipient=item.recipient,
        subject=str(message["Subject"] or ""),
        text=part.get_content() if part is not None else "",
        written_at=written,
        created_at=now(),
        ttl=item.ttl or default_ttl(),
    ).save()


def messages_of(structure_id: str, limit: int = PAGE) -> list[dict]:
    """The structure's e-mails, newest first, as the inbox page shows them."""
    return [
        {
            "id": m.outbox_id,
            "to": m.recipient,
            "subject": m.subject,
            "text": m.text,
            "template": m.template,
            "written_at": m.written_at.isoformat(timespec="seconds"),
        }
        for m in InboxMessage.of_structure(structure_id, limit)
    ]
