"""Notifications that are never lost: the outbox, its delivery, expiry reminders.

A function that causes an e-mail builds an outbox item here (``items``) and writes
it **in the same TransactWrite as the change it reports** (a committed change always
has its notification, a rolled-back one never does), then calls :func:`kick`, which
asks OpenFaaS to run ``notify`` asynchronously and never waits on SMTP. ``notify``
calls :func:`deliver` for that item and, every minute, :func:`run_scheduled`, which
writes the aidants' expiry reminders (``reminders``) and drains whatever is due (a
lost async call, an earlier SMTP failure, a backlog after an outage): login links
first (``due``), over one SMTP connection (``smtp``), until nothing is due or the
run's budget is spent (``delivery``).

Delivery is at-most-once per item in every ordinary case (``outbox``): an item is
first claimed with a conditional write (a lease), then sent, then marked sent by
the lease holder only, so two concurrent deliveries send one e-mail. A failure
retries with exponential backoff; after ``max_attempts`` the item is marked failed,
logged, and listed by :func:`failed_items` until ops :func:`requeue` it (``ops``).
A login link whose link has expired before it could be sent is not sent (it would
only open on "link expired"): marked ``expired`` and logged. Nothing is dropped
silently. Pending and failed items are found through the index, never a Scan.

The one way an e-mail goes twice: the process dies after the relay accepted the
message and before the item is marked sent (the mark is the very next call, one
UpdateItem); the lease then runs out and the item is sent again, with the same
Message-ID (one per item, ``messages``), by which mail clients recognise the
second copy.

Settings: ``OUTBOX_*``, ``REMINDER_*``, ``NOTIFY_*`` in ``shared.config``.
"""

from .delivery import (
    EXPIRED,
    FAILED,
    MISSING,
    RETRY,
    SENT,
    SKIPPED,
    UNREACHABLE,
    deliver,
    deliver_item,
    drive_pending,
    kick,
    pending_due,
    run_scheduled,
)
from .items import (
    DEMARCHE_DONE,
    EXPIRY_REMINDER,
    INVITATION,
    LOGIN_LINK,
    MANDATE_CREATED,
    MANDATE_REVOKED,
    demarche_done_item,
    expiry_reminder_item,
    invitation_item,
    login_link_item,
    mandate_created_item,
    revoked_item,
)
from .messages import render
from .ops import failed_items, requeue
from .outbox import (
    URGENT_UNREACHABLE_RETRY_SECONDS,
    context_of,
    new_item,
    operation,
    retry_after,
    retry_delay,
    save_condition,
)
from .reminders import compute_reminders, expiring_mandates

__all__ = [
    "DEMARCHE_DONE",
    "EXPIRED",
    "EXPIRY_REMINDER",
    "FAILED",
    "INVITATION",
    "invitation_item",
    "LOGIN_LINK",
    "MANDATE_CREATED",
    "MANDATE_REVOKED",
    "MISSING",
    "RETRY",
    "SENT",
    "SKIPPED",
    "UNREACHABLE",
    "URGENT_UNREACHABLE_RETRY_SECONDS",
    "compute_reminders",
    "context_of",
    "deliver",
    "deliver_item",
    "demarche_done_item",
    "drive_pending",
    "expiring_mandates",
    "expiry_reminder_item",
    "failed_items",
    "kick",
    "login_link_item",
    "mandate_created_item",
    "new_item",
    "operation",
    "pending_due",
    "render",
    "requeue",
    "retry_after",
    "retry_delay",
    "revoked_item",
    "run_scheduled",
    "save_condition",
]
