"""Accreditation (habilitation) of a structure, from the request to active aidants.

The requester is the structure's future référent. They have no account yet, so the
request is reached through a capability: a random 256-bit token in a link e-mailed
at creation (``/habilitation/suivi/?demande=<id>#<token>``; the fragment never
reaches a server log, and the page sends the token as ``Authorization: Bearer``).
Why a link rather than e-mail + code: the requester comes back a few times over
weeks, from the e-mail the service writes to at each status change anyway; a link
costs them nothing to use and us no extra state, and holding it proves they read
that mailbox. The token is stored as a keyed hash (to check it) and sealed (to put
the link in the later e-mails), never in clear.

Statuses and who moves them::

    brouillon ──requester submits──▶ envoyee ──staff──▶ en_attente
        ▲                              │  ▲                 │
        │                              ▼  └─requester──┐    ▼
        └──────────────── modifications_demandees ◀────┴─ (staff asks for changes)
    envoyee | en_attente ──staff──▶ acceptee | refusee   (modifications_demandees ──▶ refusee too)

Every status change is one conditional write on the expected current status (two
staff members deciding at once: one wins), with its journal entry and the e-mail to
the requester in the same TransactWrite (``shared.notifications`` outbox).

Filing is public, so what an anonymous person leaves is bounded. A draft expires
``HABILITATION_DRAFT_TTL_DAYS`` (30) after its last change unless submitted (``ttl``,
and :func:`load` treats an expired draft as gone): someone who starts a request and
walks away expects nothing to be kept, while a structure gathering its aidants' names
has a month between two edits. Its creation e-mail's outbox item expires with it.
The draft's creation and edits are log lines (``shared.anonymous``), not journal
entries. A submitted request is kept, with the journal entry of its submission: one
per request (again only after staff ask for changes), and requests per address and
in all are rate-limited. The requester writes to staff once the request is
submitted, at most ``HABILITATION_MESSAGES_PER_REQUEST_PER_DAY`` (10) a day.

On acceptance the structure is created with the request; then the accounts, one by
one and idempotently (a retried acceptance finishes the job): the référent
(``referent_of``) and the aidants, all inactive and without a device. An account
becomes active once staff mark it trained (training date, PIX test passed) and the
référent gives it a confirmed card or app (``shared.lifecycle``, ``shared.referent``).

* ``rules``: statuses, decisions, structure types, limits, journal and mail names;
* ``forms``: what the pages send, checked;
* ``requests``: loading a request, its views, filing and editing it (requester);
* ``workflow``: status changes and the thread of messages;
* ``staff``: the queue, decisions, the accounts of an accepted request, training.
"""

from .forms import Form, message_text, parse_form, parse_training
from .requests import as_requester, bearer_token, create, expired, follow_link, load, request_view, update
from .rules import (
    ACCEPTEE,
    BROUILLON,
    DECISIONS,
    EDITABLE,
    EN_ATTENTE,
    ENVOYEE,
    MODIFICATIONS,
    REFUSEE,
    STATUS_LABELS,
    STRUCTURE_TYPES,
)
from .staff import accounts_view, create_accounts, decide, mark_trained, queue, require_staff, staff_view
from .workflow import post_message, submit

__all__ = [
    "ACCEPTEE",
    "BROUILLON",
    "DECISIONS",
    "EDITABLE",
    "EN_ATTENTE",
    "ENVOYEE",
    "MODIFICATIONS",
    "REFUSEE",
    "STATUS_LABELS",
    "STRUCTURE_TYPES",
    "Form",
    "accounts_view",
    "as_requester",
    "bearer_token",
    "create",
    "create_accounts",
    "decide",
    "expired",
    "follow_link",
    "load",
    "mark_trained",
    "message_text",
    "parse_form",
    "parse_training",
    "post_message",
    "queue",
    "request_view",
    "require_staff",
    "staff_view",
    "submit",
    "update",
]
