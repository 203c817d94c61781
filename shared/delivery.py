"""How outbox e-mails leave: asking ``notify`` to deliver at once, one SMTP
connection per delivery run, the pending index walked in priority order, and what
an SMTP error means for the item.

``shared.notifications`` owns the item's life (claim, mark sent, retry, give up);
this module only moves messages and reads the index, so it imports nothing of it.
"""
from __future__ import annotations

import json
import smtplib
import time
import urllib.error
import urllib.request
from email.message import EmailMessage

from . import mail
from .store import OutboxItem
from .store.outbox import PENDING_SHARDS, due_key, pending_partition

PAGE = 100  # items read per Query of one partition
URGENT_RECHECK_SECONDS = 1.0  # how often a long drain looks for new urgent items
KICK_ATTEMPTS = 3
KICK_PAUSES_SECONDS = (0.1, 0.3)  # before the second and the third attempt


# -- asking notify to deliver now -------------------------------------------------------

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ask_notify(url: str, item_id: str, deadline: float) -> tuple[int, str | None]:
    """POST ``{"item": id}`` to ``/async-function/notify``. A gateway that refuses
    (connection refused or reset, timeout, 429, 5xx: restarting, overloaded) is asked
    again 0.1 s, then 0.3 s later, never past ``deadline`` (``time.monotonic()``).
    Asking twice is harmless: a delivery claims the item first. Returns the attempts
    made and, if none was accepted, why."""
    body = json.dumps({"item": item_id}).encode()
    reason, attempt = "no time left", 0
    while attempt < KICK_ATTEMPTS:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempt += 1
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with _no_proxy.open(request, timeout=remaining) as response:
                response.read()
            return attempt, None
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # refused for what it is: asking again gets the same answer
        except Exception as exc:  # any failure: the change is committed, the schedule catches up
            reason = f"{type(exc).__name__}: {exc}"
        if attempt < KICK_ATTEMPTS:
            pause = KICK_PAUSES_SECONDS[attempt - 1]
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    return attempt, reason


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
            return mail.TIMEOUT_SECONDS
        return max(1.0, min(mail.TIMEOUT_SECONDS, self.deadline - time.monotonic()))

    def _open(self) -> smtplib.SMTP:
        self._client = mail.connect(timeout=self._timeout())
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
        return (isinstance(exc, smtplib.SMTPException) and not isinstance(exc, smtplib.SMTPServerDisconnected)
                and self._client is not None and getattr(self._client, "sock", None) is not None)

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Returns once the relay has accepted the message (its 250 to the DATA)."""
        client = self._client
        kept = client is not None
        if kept:
            sock = getattr(client, "sock", None)
            if sock is not None:
                sock.settimeout(self._timeout())
        else:
            client = self._open()
        try:
            mail.transmit(client, message, recipient)
            return
        except Exception as exc:
            if self._usable_after(exc):
                raise
            self._drop()
            if not (kept and _dropped(exc)):
                raise
        client = self._open()
        try:
            mail.transmit(client, message, recipient)
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


# -- the pending index, in delivery order ---------------------------------------------

class _Partition:
    """One gsi1 partition of pending items. ``resume``: each read starts after the
    last item read (a backlog, read once through); otherwise from the start of the
    due range (the urgent ones, looked at again and again)."""

    def __init__(self, name: str, resume: bool):
        self.name, self.resume = name, resume
        self.cursor: dict | None = None  # the index key of the last item read
        self.exhausted = False

    def read(self, high: str, limit: int) -> list[OutboxItem]:
        found = list(OutboxItem.gsi1.query(self.name, OutboxItem.gsi1sk <= high, limit=limit,
                                           last_evaluated_key=self.cursor))
        if found and self.resume:
            # Kept as read: delivering an item rewrites its gsi1sk on the object.
            last = found[-1]
            self.cursor = {"pk": {"S": last.pk}, "sk": {"S": last.sk},
                           "gsi1pk": {"S": last.gsi1pk}, "gsi1sk": {"S": last.gsi1sk}}
        self.exhausted = len(found) < limit
        return found


class DueItems:
    """Every item due now, urgent ones first, each kind oldest first, read a page at
    a time with one Query per partition (never a Scan).

    The ordinary partitions are read once through, a cursor each: nothing is read
    twice, so an item just sent that a lagging index still lists is not met again.
    The urgent ones are looked at again every second of a long drain, so a login
    link written meanwhile (its kick lost) waits a second, not the rest of the
    backlog; from the start of their due range each time, since a link written in
    the cursor's second may sort before it, and skipping what this run has already
    handed out (what it handled has left the due range, unless the index lags). An
    item another delivery holds has moved past ``now`` (its lease) anyway.

    ``at`` (epoch seconds) fixes "now" (tests); by default it is the clock's.
    """

    def __init__(self, at: int | None = None, page: int | None = None):
        self._at = at
        self.page = page or PAGE
        self._urgent = [_Partition(pending_partition(s, urgent=True), resume=False) for s in range(PENDING_SHARDS)]
        self._normal = [_Partition(pending_partition(s), resume=True) for s in range(PENDING_SHARDS)]
        self._urgent_items: list[OutboxItem] = []
        self._normal_items: list[OutboxItem] = []
        self._handed_out: set[str] = set()  # urgent items, by id
        self._looked: float | None = None  # time.monotonic() of the last look at the urgent partitions

    def _high(self) -> str:
        return due_key(self._at if self._at is not None else int(time.time()), "~")

    def _read(self, partitions) -> list[OutboxItem]:
        high = self._high()
        found = [item for p in partitions for item in p.read(high, self.page)]
        return sorted(found, key=lambda i: i.gsi1sk)

    def _look_urgent(self) -> None:
        self._urgent_items = [i for i in self._read(self._urgent) if i.id not in self._handed_out]
        self._looked = time.monotonic()

    def _next_urgent(self) -> OutboxItem:
        item = self._urgent_items.pop(0)
        self._handed_out.add(item.id)
        return item

    def _time_to_look(self) -> bool:
        return self._looked is None or time.monotonic() - self._looked >= URGENT_RECHECK_SECONDS

    def __iter__(self) -> "DueItems":
        return self

    def __next__(self) -> OutboxItem:
        if not self._urgent_items and self._time_to_look():
            self._look_urgent()
        if self._urgent_items:
            return self._next_urgent()
        if not self._normal_items:
            self._normal_items = self._read([p for p in self._normal if not p.exhausted])
        if self._normal_items:
            return self._normal_items.pop(0)
        if self._time_to_look():  # a last look before calling the backlog empty
            self._look_urgent()
            if self._urgent_items:
                return self._next_urgent()
        raise StopIteration

    def buffered(self) -> int:
        """Items read but not yet handed out."""
        return len(self._urgent_items) + len(self._normal_items)
