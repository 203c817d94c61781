"""Rendering and sending e-mails: Jinja2 templates, French, text and HTML parts."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from . import emails, templates
from .config import secret, settings, MissingSecret


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


def send(message: EmailMessage, to: str) -> None:
    """Send ``message`` to the one mailbox ``to``. The SMTP envelope is given
    explicitly: ``send_message`` would otherwise take its recipients from the To, Cc
    and Bcc headers, where an address like ``a,victim@example.org`` is a list."""
    cfg = settings()
    recipients = [emails.envelope(to)]
    sender = parseaddr(cfg.mail_from)[1]
    if cfg.smtp_ssl:
        client = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=10,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=10)
    with client:
        if cfg.smtp_starttls:
            client.starttls(context=ssl.create_default_context())
        if cfg.smtp_user:
            try:
                password = secret("smtp-password")
            except MissingSecret:
                password = ""
            client.login(cfg.smtp_user, password)
        client.send_message(message, from_addr=sender, to_addrs=recipients)
