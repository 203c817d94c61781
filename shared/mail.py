"""Rendering and sending e-mails: Jinja2 templates, French, text and HTML parts."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from . import emails, templates
from .config import secret, settings, MissingSecret

TIMEOUT_SECONDS = 10  # one SMTP exchange (connect, a command, the DATA of a message)


def render(template: str, **context) -> tuple[str, str, str]:
    """Subject, plain text and HTML of ``mail/<template>``."""
    env = templates.environment()
    context.setdefault("service_url", settings().frontend_url)
    subject = env.get_template(f"mail/{template}.subject.txt").render(**context).strip()
    text = env.get_template(f"mail/{template}.txt").render(**context)
    html = env.get_template(f"mail/{template}.html").render(**context)
    return subject, text, html


def build(to: str, subject: str, text: str, html: str, message_id: str | None = None) -> EmailMessage:
    """The message to ``to``, one mailbox (ValueError otherwise: an outbox item written
    before addresses were checked is not sent to whatever its ``To`` would name)."""
    emails.envelope(to)
    message = EmailMessage()
    # The default policy folds long headers at 78 columns and, with non-ASCII text,
    # loses the space at the fold ("a été modifié" arrived as "a étémodifié").
    message.policy = message.policy.clone(max_line_length=998)
    message["From"] = settings().mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="aidantsconnect.beta.gouv.fr")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def envelope_sender() -> str:
    """The SMTP envelope's sender: the address of ``MAIL_FROM``."""
    return parseaddr(settings().mail_from)[1]


def connect(timeout: float = TIMEOUT_SECONDS) -> smtplib.SMTP:
    """An open connection to the relay, TLS and authentication done; the caller
    closes it (``quit``). Every exchange on it times out after ``timeout`` seconds."""
    cfg = settings()
    if cfg.smtp_ssl:
        client = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=timeout,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=timeout)
    try:
        if cfg.smtp_starttls:
            client.starttls(context=ssl.create_default_context())
        if cfg.smtp_user:
            try:
                password = secret("smtp-password")
            except MissingSecret:
                password = ""
            client.login(cfg.smtp_user, password)
    except BaseException:
        client.close()
        raise
    return client


def transmit(client: smtplib.SMTP, message: EmailMessage, recipient: str) -> None:
    """One message on an open connection. The envelope is explicit: ``send_message``
    would otherwise take its recipients from the To, Cc and Bcc headers, where an
    address like ``a,victim@example.org`` is a list; and the recipient must be one
    mailbox (``emails.envelope`` refuses anything else)."""
    client.send_message(message, from_addr=envelope_sender(), to_addrs=[emails.envelope(recipient)])


def send(message: EmailMessage, recipient: str) -> None:
    """One message on a connection of its own."""
    with connect() as client:
        transmit(client, message, recipient)
