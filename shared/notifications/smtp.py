"""The SMTP relay: one connection per delivery run (``Mailer``), the envelope of a
message, and what an SMTP error means for the item (refused for good, or the relay
out of reach)."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, Iterator

from .. import emails
from ..config import MissingSecret, secret, settings

if TYPE_CHECKING:
    from .messages import Mail

TIMEOUT_SECONDS = 10  # one SMTP exchange (connect, a command, the DATA of a message)


def envelope_sender() -> str:
    """The SMTP envelope's sender: the address of ``MAIL_FROM``."""
    return parseaddr(settings().mail_from)[1]


def connect(timeout: float = TIMEOUT_SECONDS) -> smtplib.SMTP:
    """An open connection to the relay, TLS and authentication done; the caller
    closes it (``quit``). Every exchange on it times out after ``timeout`` seconds."""
    cfg = settings()
    client: smtplib.SMTP
    if cfg.sandbox:
        # The training sandbox never sends e-mail (shared.sandbox.inbox), whatever
        # its SMTP settings say.
        raise RuntimeError("the sandbox profile never connects to an SMTP relay")
    if cfg.smtp_ssl:
        client = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=timeout, context=ssl.create_default_context())
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


def transmit(client: smtplib.SMTP, message, recipient: str) -> None:
    """One message on an open connection. The envelope is explicit: ``send_message``
    would otherwise take its recipients from the To, Cc and Bcc headers, where an
    address like ``a,victim@example.org`` is a list; and the recipient must be one
    mailbox (``emails.envelope`` refuses anything else). A ``messages.Mail`` is
    already its bytes (7-bit); an ``EmailMessage`` is flattened by smtplib."""
    to_addrs = [emails.envelope(recipient)]
    if isinstance(message, EmailMessage):
        client.send_message(message, from_addr=envelope_sender(), to_addrs=to_addrs)
    else:
        client.sendmail(envelope_sender(), to_addrs, message.as_bytes())


# -- what an SMTP error means -------------------------------------------------------


def permanent(exc: Exception) -> bool:
    """The relay refused this message for good (5xx on the recipient or the data).
    Authentication and connection errors are ours to fix: those are retried. A
    recipient that is not one mailbox (``emails.envelope``'s ValueError) is never
    sent to anyone."""
    if isinstance(exc, ValueError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and 500 <= exc.smtp_code < 600


def unreachable(exc: Exception) -> bool:
    """The relay itself cannot be reached (every SMTP error is an OSError too: only
    socket-level ones and a refused or dropped connection count)."""
    if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _dropped(exc: Exception) -> bool:
    """The relay closed the connection: idle too long, or a cap on messages per
    connection (421 is "closing the channel", RFC 5321 §3.8)."""
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421:
        return True
    return isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError))


# -- one connection per run ------------------------------------------------------------


class Mailer:
    """Sends a run's messages over one SMTP connection, opened at the first message
    (TLS and login are most of a message's cost on a remote relay) and closed at the
    end. A relay that answered "no" to one message keeps the connection; one that
    dropped it gets a new one.

    A kept connection found closed is reopened and the message sent once more at
    once. That can repeat a message only if the relay accepted it and the
    connection died before its reply came back: the retry with back-off would send
    it again just the same, and the Message-ID, one per item, shows it is the same.

    ``deadline`` (``time.monotonic()``) bounds every exchange, so the last message of
    a run cannot keep the function past its exec_timeout.
    """

    def __init__(self, deadline: float | None = None):
        self.deadline = deadline
        self.connections = 0  # opened so far (tests, the run's answer)
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> "Mailer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _timeout(self) -> float:
        if self.deadline is None:
            return TIMEOUT_SECONDS
        return max(1.0, min(TIMEOUT_SECONDS, self.deadline - time.monotonic()))

    def _open(self) -> smtplib.SMTP:
        self._client = connect(timeout=self._timeout())
        self.connections += 1
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _usable_after(self, exc: Exception) -> bool:
        """The relay answered this message (refused it): the connection goes on.
        smtplib closes the socket itself when the answer was a 421."""
        if isinstance(exc, ValueError):
            return self._client is not None  # refused before anything was sent (not one mailbox)
        return (
            isinstance(exc, smtplib.SMTPException)
            and not isinstance(exc, smtplib.SMTPServerDisconnected)
            and self._client is not None
            and getattr(self._client, "sock", None) is not None
        )

    def send(self, message: Mail | EmailMessage, recipient: str) -> None:
        """Returns once the relay has accepted the message (its 250 to the DATA)."""
        client = self._client
        kept = client is not None
        if client is not None:
            sock = getattr(client, "sock", None)
            if sock is not None:
                sock.settimeout(self._timeout())
        else:
            client = self._open()
        try:
            transmit(client, message, recipient)
            return
        except Exception as exc:
            if self._usable_after(exc):
                raise
            self._drop()
            if not (kept and _dropped(exc)):
                raise
        client = self._open()
        try:
            transmit(client, message, recipient)
        except Exception as exc:
            if not self._usable_after(exc):
                self._drop()
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except Exception:  # already gone: nothing was pending on it
            client.close()


# -- kept between async deliveries --------------------------------------------------


class _Kept:
    """Mailers of this process whose connection stays open between async deliveries
    (``delivery.deliver``: one item per call, often several in a burst), each used by
    one delivery at a time. One idle longer than ``NOTIFY_SMTP_KEEP_SECONDS`` is
    closed rather than reused (relays drop idle connections; a dropped one is
    reopened by :meth:`Mailer.send` anyway). Kept per configuration, so a test that
    points SMTP elsewhere never gets another relay's connection."""

    MAX_IDLE = 4

    def __init__(self) -> None:
        self._idle: list[tuple[object, float, Mailer]] = []
        self._lock = threading.Lock()

    def take(self, key, keep_seconds: float) -> Mailer:
        stale = []
        with self._lock:
            found = None
            while self._idle:
                owner, since, mailer = self._idle.pop()
                if owner == key and time.monotonic() - since <= keep_seconds:
                    found = mailer
                    break
                stale.append(mailer)
        for mailer in stale:
            mailer.close()
        return found or Mailer()

    def give(self, key, mailer: Mailer) -> None:
        with self._lock:
            if len(self._idle) < self.MAX_IDLE:
                self._idle.append((key, time.monotonic(), mailer))
                return
        mailer.close()


_kept = _Kept()


@contextmanager
def kept_mailer() -> Iterator[Mailer]:
    """A :class:`Mailer` whose connection may have served the previous delivery and
    may serve the next one (see :class:`_Kept`); an error closes it."""
    cfg = settings()
    if cfg.notify_smtp_keep_seconds <= 0:
        with Mailer() as mailer:
            yield mailer
        return
    key = (id(cfg), connect)
    mailer = _kept.take(key, cfg.notify_smtp_keep_seconds)
    try:
        yield mailer
    except BaseException:
        mailer.close()
        raise
    _kept.give(key, mailer)
