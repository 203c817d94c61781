"""From an outbox item to the e-mail that leaves: its stored context turned into
what the templates show (Jinja2, French, text and HTML parts), and the message
with its headers, the item's own Message-ID among them."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from email.message import EmailMessage

from .. import emails, templates
from ..config import settings
from ..demarches import DEMARCHES
from ..store import OutboxItem
from ..templates import PARIS
from .items import EXPIRY_REMINDER
from .outbox import context_of

CONTACT = "contact@aidantsconnect.beta.gouv.fr"
DURATIONS = {"short": "courte (jusqu'à la fin de la journée de demain)",
             "six_months": "6 mois", "long": "12 mois"}


def _demarche_view(key: str) -> dict:
    known = DEMARCHES.get(key)
    return {"key": key, "title": known.title if known else key,
            "description": known.description if known else ""}


def _view(template: str, context: dict) -> dict:
    """Turns the stored context (keys, ISO dates) into what the template shows."""
    view = dict(context, contact=CONTACT)
    for name in ("demarches", "revoked", "remaining"):
        if name in view:
            view[name] = [_demarche_view(k) for k in view[name]]
    if "demarche" in view:
        view["demarche"] = _demarche_view(view["demarche"])
    if "duration" in view:
        view["duration_label"] = DURATIONS.get(view["duration"], view["duration"])
    if template == EXPIRY_REMINDER:
        # ``ends_today``: items written before short mandates were reminded lack it.
        view["mandates"] = [dict(m, demarches=[_demarche_view(k) for k in m["demarches"]],
                                 ends_today=bool(m.get("ends_today")))
                            for m in view["mandates"]]
    return view


def _time_left(item: OutboxItem, at: int) -> dict:
    """What a link's e-mail says of its life, as of sending (not of writing: after an
    outage a link may leave with two of its five minutes left)."""
    until = datetime.fromtimestamp(item.deliver_by, timezone.utc).astimezone(PARIS)
    return {"minutes": max(1, (item.deliver_by - at + 30) // 60), "until": f"{until.hour:02d}h{until.minute:02d}"}


def render_template(template: str, **context) -> tuple[str, str, str]:
    """Subject, plain text and HTML of ``mail/<template>``."""
    env = templates.environment()
    context.setdefault("service_url", settings().frontend_url)
    subject = env.get_template(f"mail/{template}.subject.txt").render(**context).strip()
    text = env.get_template(f"mail/{template}.txt").render(**context)
    html = env.get_template(f"mail/{template}.html").render(**context)
    return subject, text, html


def build(to: str, subject: str, text: str, html: str, message_id: str) -> EmailMessage:
    """The message to ``to``, one mailbox (ValueError otherwise: an outbox item written
    before addresses were checked is not sent to whatever its ``To`` would name)."""
    emails.envelope(to)
    message = EmailMessage()
    # The default policy folds long headers at 78 columns and, with non-ASCII text,
    # loses the space at the fold ("a été modifié" arrived as "a étémodifié"); RFC
    # 5322 allows 998 characters per line, so headers are not folded below that.
    message.policy = message.policy.clone(max_line_length=998)
    message["From"] = settings().mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def render(item: OutboxItem, at: int | None = None) -> EmailMessage:
    """The item's e-mail as of ``at`` (epoch seconds, now by default), with its
    Message-ID (one per item: a repeated delivery shows as the same message)."""
    view = _view(item.template, context_of(item))
    if item.deliver_by is not None:
        view.update(_time_left(item, int(at if at is not None else time.time())))
    subject, text, html = render_template(item.template, **view)
    return build(item.recipient, subject, text, html, message_id=item.message_id)
