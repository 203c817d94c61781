"""What changes a request once filed: its status (submitted by the requester,
moved by staff) and its thread of messages. Each change is one transaction with its
journal entry and the requester's e-mail (``shared.notifications`` outbox)."""

from __future__ import annotations

from datetime import datetime

from .. import anonymous, crypto, errors, journal, notifications, ratelimit
from .. import error_codes as codes
from ..config import settings
from ..store import HabilitationMessage, HabilitationRequest, Operation, now, transaction
from .requests import follow_link, iso, mail, stale
from .rules import (
    BROUILLON,
    EDITABLE,
    ENVOYEE,
    MAIL_MESSAGE,
    MAIL_STATUS,
    REQUEST_MESSAGE,
    REQUEST_STATUS,
    STATUS_LABELS,
)


def move(
    req: HabilitationRequest,
    sources: set[str],
    target: str,
    *,
    actor_id: str | None,
    message_text: str | None = None,
    author: str | None = None,
    author_name: str | None = None,
    extra_actions: list | None = None,
    extra_operations: list[Operation] | None = None,
) -> None:
    """One status change: conditional on the current status, with its journal entry,
    its optional message and the requester's e-mail, all or nothing."""
    if req.status not in sources:
        raise errors.Conflict(
            f"Impossible depuis le statut « {STATUS_LABELS[req.status]} ».", code=codes.INVALID_TRANSITION
        )
    at = now()
    actions = [
        HabilitationRequest.status.set(target),
        HabilitationRequest.updated_at.set(at),
        HabilitationRequest.version.add(1),
        *HabilitationRequest.queue_actions(target, at, req.id),
        *(extra_actions or []),
    ]
    message = None
    if message_text:
        if author is None or author_name is None:  # a message is staff's, who always sign it
            raise ValueError("a message with a status change names its author")
        message = _message(req, author, author_name, message_text, at)
        actions += [HabilitationRequest.last_message_at.set(at), HabilitationRequest.last_message_by.set(author)]
    previous = req.status
    req.status = target
    notice = mail(MAIL_STATUS, req, follow_link(req), message=message_text or "")
    try:
        with transaction(stale()) as tx:
            tx.update(
                req,
                actions=actions,
                condition=(HabilitationRequest.status == previous) & (HabilitationRequest.version == req.version),
            )
            if message is not None:
                tx.save(message, condition=HabilitationMessage.pk.does_not_exist())
            tx.include(extra_operations or [])
            tx.save(notice, condition=notifications.save_condition())
            tx.save(
                journal.entry(
                    REQUEST_STATUS,
                    aidant_id=actor_id,
                    structure_id=req.structure_id,
                    details={"request": req.id, "from": previous, "to": target},
                ),
                condition=journal.append_condition(),
            )
    except errors.Conflict:
        req.status = previous
        raise
    req.version = int(req.version or 0) + 1
    notifications.kick(notice)


def submit(req: HabilitationRequest) -> None:
    """The requester sends the request to staff: from now on it is kept (no TTL)."""
    extra = [HabilitationRequest.submitted_at.set(now()), HabilitationRequest.ttl.remove()]
    move(req, EDITABLE, ENVOYEE, actor_id=None, extra_actions=extra)


def _message(req: HabilitationRequest, author: str, author_name: str, text: str, at: datetime) -> HabilitationMessage:
    return HabilitationMessage(
        *HabilitationMessage.key(req.id, at, crypto.new_id(4)),
        request_id=req.id,
        author=author,
        author_name=author_name,
        text=text,
        at=iso(at),
        created_at=at,
    )


def post_message(
    req: HabilitationRequest, author: str, author_name: str, text: str, actor_id: str | None = None
) -> None:
    """Append to the thread; a staff message is e-mailed to the requester.

    The requester's messages are permanent items written without a session, so they
    are bounded: only on a submitted request (a draft has nobody to talk to yet and
    may expire), and at most ``HABILITATION_MESSAGES_PER_REQUEST_PER_DAY`` a day."""
    if author == "requester":
        if req.status == BROUILLON:
            raise errors.Conflict(
                "Envoyez d'abord votre demande : les échanges avec l'équipe commencent à son envoi.",
                code=codes.NOT_SUBMITTED,
            )
        ratelimit.take(
            f"habilitation-messages:{req.id}",
            settings().habilitation_messages_per_request_per_day,
            24 * 3600,
            "Vous avez envoyé beaucoup de messages aujourd'hui. Réessayez demain.",
        )
    at = now()
    message = _message(req, author, author_name, text, at)
    notice = mail(MAIL_MESSAGE, req, follow_link(req), message=text) if author == "staff" else None
    with transaction(stale()) as tx:
        tx.save(message, condition=HabilitationMessage.pk.does_not_exist())
        tx.update(
            req,
            actions=[HabilitationRequest.last_message_at.set(at), HabilitationRequest.last_message_by.set(author)],
            condition=HabilitationRequest.pk.exists(),
        )
        if notice is not None:
            tx.save(notice, condition=notifications.save_condition())
        if actor_id is not None:
            tx.save(
                journal.entry(
                    REQUEST_MESSAGE,
                    aidant_id=actor_id,
                    structure_id=req.structure_id,
                    details={"request": req.id, "author": author},
                ),
                condition=journal.append_condition(),
            )
    if actor_id is None:
        anonymous.log_event(REQUEST_MESSAGE, request=req.id, author=author)
    if notice is not None:
        notifications.kick(notice)
