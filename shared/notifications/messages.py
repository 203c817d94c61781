"""From an outbox item to the e-mail that leaves: its stored context turned into
what the templates show (Jinja2, French, text and HTML parts), and the message
with its headers, the item's own Message-ID among them."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from .. import crypto, emails, templates
from ..config import settings
from ..demarches import DEMARCHES
from ..store import OutboxItem
from ..templates import PARIS
from .items import EXPIRY_REMINDER
from .outbox import context_of

CONTACT = "contact@aidantsconnect.beta.gouv.fr"
DURATIONS = {"short": "courte (jusqu'à la fin de la journée de demain)", "six_months": "6 mois", "long": "12 mois"}


def _demarche_view(key: str) -> dict:
    known = DEMARCHES.get(key)
    return {"key": key, "title": known.title if known else key, "description": known.description if known else ""}


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
        view["mandates"] = [
            dict(m, demarches=[_demarche_view(k) for k in m["demarches"]], ends_today=bool(m.get("ends_today")))
            for m in view["mandates"]
        ]
    return view


def _time_left(item: OutboxItem, at: int) -> dict:
    """What a link's e-mail says of its life, as of sending (not of writing: after an
    outage a link may leave with two of its five minutes left)."""
    until = datetime.fromtimestamp(item.deliver_by, timezone.utc).astimezone(PARIS)
    return {"minutes": max(1, (item.deliver_by - at + 30) // 60), "until": f"{until.hour:02d}h{until.minute:02d}"}


_compiled: dict[tuple[int, str], tuple] = {}


def _templates(template: str) -> tuple:
    """The three compiled templates of ``mail/<template>``, looked up once per process
    (``get_template`` checks the files on disk at every call)."""
    env = templates.environment()
    key = (id(env), template)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = tuple(
            env.get_template(f"mail/{template}{suffix}") for suffix in (".subject.txt", ".txt", ".html")
        )
    return found


def render_template(template: str, **context) -> tuple[str, str, str]:
    """Subject, plain text and HTML of ``mail/<template>``."""
    context.setdefault("service_url", settings().frontend_url)
    subject, text, html = _templates(template)
    return subject.render(**context).strip(), text.render(**context), html.render(**context)


class Mail:
    """An e-mail as it leaves: its headers, a plain-text and an HTML part, and the
    bytes SMTP sends (:meth:`as_bytes`), written here in a few string operations.
    The ``email`` package's ``EmailMessage`` (policy objects, header folding, a
    generator walking the parts) was most of the CPU of delivering a message.

    Reads like an ``EmailMessage`` where the code and the tests look at one:
    ``mail["Subject"]``, ``mail.get_body(("plain",)).get_content()``."""

    def __init__(self, headers: list[tuple[str, str]], text: str, html: str):
        self.headers = headers
        self.text, self.html = text, html

    def __getitem__(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    get = __getitem__

    def get_body(self, preferencelist=("related", "html", "plain")):
        for kind in preferencelist:
            if kind in ("html", "plain"):
                return _Part(self.html if kind == "html" else self.text)
        return None

    def as_bytes(self) -> bytes:
        boundary = "=_" + crypto.new_id(18)
        lines = [f"{name}: {_header_value(name, value)}" for name, value in self.headers]
        lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
        for subtype, content in (("plain", self.text), ("html", self.html)):
            lines += [
                f"--{boundary}",
                f'Content-Type: text/{subtype}; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
                "",
                _base64_lines(content),
            ]
        lines += [f"--{boundary}--", ""]
        return "\r\n".join(lines).encode("ascii")


class _Part:
    def __init__(self, content: str):
        self._content = content

    def get_content(self) -> str:
        return self._content


def _base64_lines(text: str) -> str:
    # RFC 2045 §6.8: lines of 76 characters; 7-bit whatever the relay supports, and
    # the text decodes to exactly what was rendered (as the ``email`` package wrote it).
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _encoded_words(text: str) -> str:
    """RFC 2047 encoded words (base64, UTF-8), each within 75 characters, split on
    character boundaries; readers join adjacent ones, dropping the space between."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in text:
        length = len(char.encode("utf-8"))
        if size + length > 45:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += length
    words.append("".join(chunk))
    return " ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words if w)


def _header_value(name: str, value: str) -> str:
    value = " ".join(value.split())  # no line break can end a header early (header injection)
    if value.isascii():
        return value
    if name in ("From", "To"):  # a display name with accents; the address itself is ASCII (build checks)
        display, address = parseaddr(value)
        return f"{_encoded_words(display)} <{address}>"
    return _encoded_words(value)


def build(to: str, subject: str, text: str, html: str, message_id: str) -> Mail | EmailMessage:
    """The message to ``to``, one mailbox (ValueError otherwise: an outbox item written
    before addresses were checked is not sent to whatever its ``To`` would name).
    An address that is not ASCII (an internationalised mailbox) is left to the
    ``email`` package, which knows how to write it."""
    emails.envelope(to)
    sender = settings().mail_from
    if not (to.isascii() and parseaddr(sender)[1].isascii()):
        return _build_with_email_package(to, subject, text, html, message_id)
    return Mail(
        [
            ("From", sender),
            ("To", to),
            ("Subject", subject),
            ("Message-ID", message_id),
            ("Date", formatdate(usegmt=True)),
        ],
        text,
        html,
    )


def _build_with_email_package(to: str, subject: str, text: str, html: str, message_id: str) -> EmailMessage:
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


def render(item: OutboxItem, at: int | None = None) -> Mail | EmailMessage:
    """The item's e-mail as of ``at`` (epoch seconds, now by default), with its
    Message-ID (one per item: a repeated delivery shows as the same message)."""
    view = _view(item.template, context_of(item))
    if item.deliver_by is not None:
        view.update(_time_left(item, int(at if at is not None else time.time())))
    subject, text, html = render_template(item.template, **view)
    return build(item.recipient, subject, text, html, message_id=item.message_id)
