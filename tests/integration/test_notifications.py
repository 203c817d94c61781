"""Notifications through the real stack: outbox items in DynamoDB Local, the notify
function behind the local gateway (async path and local cron), the real SMTP sink.

Most tests run on this module's own stack (``local.launcher``), which runs the
schedule every 2 seconds, retries after 1 second, has two notify replicas and whose
SMTP sink may be stopped, without disturbing the session's shared stack; the login
link test runs on the shared stack, whose schedule is the real one. ``local up``
restarts a sink that dies, so this stack runs none (``--external-smtp``): the test
runs the sink itself, and stops it for as long as it needs.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import Mailbox, Stack, _reset_shared_caches

ROOT = Path(__file__).resolve().parents[2]
CRON_SECONDS = 2


@pytest.fixture(scope="module")
def notify_stack(tmp_path_factory):
    from local import launcher

    saved_env = dict(os.environ)
    env = {
        "LOCAL_CRON_SECONDS": str(CRON_SECONDS),
        "OUTBOX_RETRY_BASE_SECONDS": "1",
        "OUTBOX_RETRY_MAX_SECONDS": "2",
        "REMINDER_WINDOW_DAYS": "7",
        "REMINDER_HOUR": "0",
        # a cold DynamoDB Local on a busy machine can take more than 2 s to create the table
        "STORE_TIMEOUT_SECONDS": "10",
    }
    for attempt in (1, 2):
        try:
            running = launcher.start(
                tmp_path_factory.mktemp("notify-stack"), ["--workers", "notify=2", "--external-smtp"], env=env
            )
            break
        except RuntimeError:
            # Free ports are picked before the store binds them, and a busy machine
            # slows everything: a second try, on new ports, rather than a flaky module.
            if attempt == 2:
                raise
    stack = Stack(running.url, running.state, running.env, running.process, running.seed())
    stack.smtp = SmtpSink(int(running.env["SMTP_PORT"]), running.state / "mail")
    stack.smtp.start()
    try:
        yield stack
    finally:
        stack.smtp.stop_ours()
        running.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


class SmtpSink:
    """The SMTP sink of a stack started with ``--external-smtp``: run, stopped and
    started again by the test."""

    def __init__(self, port: int, folder: Path):
        self.port, self.folder, self.ours = port, folder, None

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def _sink_pids(self) -> list[int]:
        wanted = ["-m", "local.smtp_sink", "--port", str(self.port)]
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                except OSError:
                    continue
                if all(w in argv for w in wanted):
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        for pid in self._sink_pids():
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while self._listening():
            assert time.time() < deadline, "the SMTP sink did not stop"
            time.sleep(0.1)
        if self.ours is not None:
            self.ours.wait(5)
            self.ours = None

    def start(self) -> None:
        self.ours = subprocess.Popen(
            [sys.executable, "-m", "local.smtp_sink", "--port", str(self.port), "--dir", str(self.folder)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while not self._listening():
            assert time.time() < deadline and self.ours.poll() is None, "the SMTP sink did not start"
            time.sleep(0.1)

    def stop_ours(self) -> None:
        if self.ours is not None and self.ours.poll() is None:
            self.ours.terminate()
            self.ours.wait(5)


# -- helpers -----------------------------------------------------------------------


def fresh_usager(stack, email: str | None = "usager"):
    stack.use_store()
    from shared import crypto, mandates

    tag = crypto.new_id(6).lower()
    return mandates.upsert_usager(
        f"sub-{tag}",
        {
            "given_name": "Angela Claire Louise",
            "family_name": f"DUBOIS-{tag}",
            "birthdate": "1962-08-24",
            "email": f"{email}-{tag}@usagers.example.fr" if email else None,
        },
    )


def structure(stack, name="Maison France Services de Laon"):
    stack.use_store()
    from shared.store import Structure

    return Structure.get(*Structure.key(stack.new_structure(name)))


def sign(stack, usager, structure_id, demarches, duration="long"):
    stack.use_store()
    from shared import mandates

    return mandates.create(
        mandates.NewMandate(
            structure_id=structure_id,
            usager=usager,
            demarches=demarches,
            duration=duration,
            is_remote=False,
            remote_consent=None,
            aidant_id="demo-aidant",
            aidant_name="Camille Fwolk",
            text_snapshot=".",
        )
    )


def expire_soon(stack, *mandates, days=3):
    """Time travel, in one transaction so that one scheduled run sees them all:
    mandates signed a year ago that now end in ``days``."""
    stack.use_store()
    from datetime import timedelta

    from pynamodb.connection import Connection
    from pynamodb.transactions import TransactWrite

    from shared.store import Mandate, now, transaction_kwargs

    end = now() + timedelta(days=days)
    with TransactWrite(connection=Connection(**transaction_kwargs())) as tx:
        for mandate in mandates:
            tx.update(
                Mandate(*Mandate.key(mandate.id)),
                actions=[
                    Mandate.expires_at.set(end),
                    Mandate.created_at.set(end - timedelta(days=365)),
                    Mandate.gsi3pk.set(f"EXPIRY#{end.date().isoformat()}"),
                    Mandate.gsi3sk.set(f"{end.isoformat(timespec='seconds')}#{mandate.id}"),
                ],
            )


def write(stack, *items, kick=True):
    """Write items in one transaction, as the function that causes them does."""
    stack.use_store()
    from pynamodb.connection import Connection
    from pynamodb.transactions import TransactWrite

    from shared import notifications
    from shared.store import transaction_kwargs

    with TransactWrite(connection=Connection(**transaction_kwargs())) as tx:
        for item in items:
            tx.save(item, condition=notifications.save_condition())
    if kick:
        notifications.kick(*items)
    return items


def outbox_item(stack, item_id):
    stack.use_store()
    from shared.store import OutboxItem

    return OutboxItem.get(*OutboxItem.key(item_id), consistent_read=True)


def with_message_id(stack, item, timeout=30.0):
    """Every message the sink received for this outbox item (waits for the first)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [m for m in stack.mail.messages() if m["Message-ID"] == item.message_id]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(
        f"no mail for outbox item {item.id} within {timeout}s (status {outbox_item(stack, item.id).status})"
    )


def wait_until(predicate, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s")


def text(message) -> str:
    return Mailbox.text(message)


def html(message) -> str:
    return message.get_body(("html",)).get_content()


# -- the login link -------------------------------------------------------------------


def test_login_link_goes_through_the_outbox_and_arrives_at_once(stack):
    """On the session's stack, whose schedule is the real one (every minute): the
    link arrives within seconds, through the async path (or, were the kick lost, the
    next scheduled run)."""
    email = stack.new_aidant(first_name="Nadia")
    before = stack.mail.count()
    session = stack.login(requests.Session(), email)  # waits at most 15 s for the mail
    assert session.get(stack.url + "/api/me").json()["aidant"]["first_name"] == "Nadia"
    message = stack.mail.wait_for(email, "connexion", after=before)
    assert message["From"] == "Aidants Connect <nepasrepondre@aidantsconnect.beta.gouv.fr>"
    assert message["X-Envelope-To"] == email
    item_id = message["Message-ID"].strip("<>").split("@")[0].removeprefix("outbox-")
    item = outbox_item(stack, item_id)
    assert item.template == "login_link" and item.status == "sent" and item.attempts == 1
    assert item.sealed_context is None  # the link does not outlive its sending


# -- what the usager receives ---------------------------------------------------------


def test_usager_emails_content_and_recipients(notify_stack):
    from shared import notifications

    usager = fresh_usager(notify_stack)
    place = structure(notify_stack)
    mandate = sign(notify_stack, usager, place.id, ["papiers", "social", "argent"], duration="six_months")
    created = notifications.mandate_created_item(mandate, usager, place)
    partial = notifications.revoked_item(mandate, usager, place, demarches=["social"])
    done = notifications.demarche_done_item(usager, place, "argent", service="impots.gouv.fr")
    write(notify_stack, created, partial, done)

    [welcome] = with_message_id(notify_stack, created)
    assert welcome["To"] == usager.email and welcome["X-Envelope-To"] == usager.email
    assert welcome["From"] == "Aidants Connect <nepasrepondre@aidantsconnect.beta.gouv.fr>"
    assert welcome["Subject"] == "Votre mandat Aidants Connect avec Maison France Services de Laon"
    for body in (text(welcome), html(welcome)):
        assert usager.family_name in body
        assert "Papiers - Citoyenneté - Élections" in body and "Social - Santé" in body
        assert "Argent - Impôts - Consommation" in body and "Logement" not in body
        assert "6 mois" in body and "révoquer le mandat" in body and mandate.id in body
        assert "Camille" not in body and "Fwolk" not in body

    [revocation] = with_message_id(notify_stack, partial)
    assert revocation["To"] == usager.email
    assert revocation["Subject"] == "Votre mandat Aidants Connect avec Maison France Services de Laon a été modifié"
    closed, still = text(revocation).split("Ils peuvent toujours")
    assert "Social - Santé" in closed and "Papiers" not in closed
    assert "Papiers" in still and "Argent" in still and "Social" not in still

    [carried_out] = with_message_id(notify_stack, done)
    assert carried_out["To"] == usager.email
    assert carried_out["Subject"] == "Une démarche a été effectuée pour vous avec Aidants Connect"
    for body in (text(carried_out), html(carried_out)):
        assert "Maison France Services de Laon" in body and "Argent - Impôts - Consommation" in body
        assert "impots.gouv.fr" in body
        assert "Camille" not in body and "Fwolk" not in body and "demo-aidant" not in body


def test_no_email_for_a_usager_without_address(notify_stack):
    from shared import notifications

    usager = fresh_usager(notify_stack, email=None)
    place = structure(notify_stack)
    mandate = sign(notify_stack, usager, place.id, ["papiers"])
    assert notifications.mandate_created_item(mandate, usager, place) is None
    assert notifications.demarche_done_item(usager, place, "papiers") is None


# -- never lost ------------------------------------------------------------------------


def test_lost_async_call_is_delivered_by_the_schedule(notify_stack):
    from shared import notifications

    usager = fresh_usager(notify_stack)
    (item,) = write(
        notify_stack, notifications.demarche_done_item(usager, structure(notify_stack), "papiers"), kick=False
    )
    [message] = with_message_id(notify_stack, item, timeout=30)
    assert message["To"] == usager.email
    assert outbox_item(notify_stack, item.id).status == "sent"


def test_smtp_down_during_delivery_is_retried_until_it_comes_back(notify_stack):
    from shared import notifications

    usager = fresh_usager(notify_stack)
    place = structure(notify_stack)
    notify_stack.smtp.stop()
    try:
        patient = notifications.demarche_done_item(usager, place, "logement")
        hopeless = notifications.new_item(
            notifications.DEMARCHE_DONE,
            usager.email,
            {
                "usager_name": usager.full_name,
                "structure": {"id": place.id, "name": place.name, "address": ""},
                "demarche": "justice",
                "at": "2026-11-24T10:00:00+00:00",
                "service": "",
            },
            max_attempts=2,
        )
        write(notify_stack, patient, hopeless)
        wait_until(lambda: outbox_item(notify_stack, patient.id).attempts >= 2, what="two failed attempts")
        waiting = outbox_item(notify_stack, patient.id)
        assert waiting.status == "pending" and "Connection refused" in (waiting.last_error or "")
        given_up = wait_until(
            lambda: (i := outbox_item(notify_stack, hopeless.id)).status == "failed" and i,
            what="the bounded item to fail",
        )
        assert given_up.attempts == 2
        notify_stack.use_store()
        assert hopeless.id in {i.id for i in notifications.failed_items(limit=200)}
    finally:
        notify_stack.smtp.start()
    [message] = with_message_id(notify_stack, patient, timeout=30)
    assert message["To"] == usager.email and "Logement" in text(message)
    assert outbox_item(notify_stack, patient.id).status == "sent"
    time.sleep(CRON_SECONDS * 2)
    assert not [m for m in notify_stack.mail.messages() if m["Message-ID"] == hopeless.message_id]
    assert len(with_message_id(notify_stack, patient)) == 1


def test_concurrent_deliveries_of_one_item_send_one_email(notify_stack):
    from shared import notifications

    usager = fresh_usager(notify_stack)
    place = structure(notify_stack)
    items = write(
        notify_stack,
        *[
            notifications.demarche_done_item(usager, place, d)
            for d in ("papiers", "famille", "social", "travail", "transports")
        ],
        kick=False,
    )
    url = notify_stack.url + "/function/notify"

    def deliver(item):
        r = requests.post(url, json={"item": item.id}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["outcome"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(pool.map(deliver, [item for item in items for _ in range(6)]))
    assert outcomes.count("sent") <= len(items) and outcomes.count("sent") >= 1
    assert set(outcomes) <= {"sent", "skipped"}
    time.sleep(CRON_SECONDS * 2)
    for item in items:
        assert len(with_message_id(notify_stack, item)) == 1
        assert outbox_item(notify_stack, item.id).status == "sent"


# -- expiry reminders --------------------------------------------------------------------


def test_expiry_reminder_is_sent_once_to_each_active_aidant(notify_stack):
    place = structure(notify_stack, "Médiathèque de Soissons")
    alice = notify_stack.new_aidant(place.id, first_name="Alice")
    bruno = notify_stack.new_aidant(place.id, first_name="Bruno")
    gone = notify_stack.new_aidant(place.id, first_name="Gaston", is_active=False)
    outsider = notify_stack.new_aidant(first_name="Octave")  # the seed's structure
    first, second = fresh_usager(notify_stack), fresh_usager(notify_stack)
    soon_1 = sign(notify_stack, first, place.id, ["papiers"])
    soon_2 = sign(notify_stack, second, place.id, ["transports", "logement"])
    later = sign(notify_stack, fresh_usager(notify_stack), place.id, ["justice"], duration="six_months")
    short = sign(notify_stack, fresh_usager(notify_stack), place.id, ["famille"], duration="short")
    expire_soon(notify_stack, soon_1, soon_2)

    reminders = {}
    for email in (alice, bruno):
        reminders[email] = notify_stack.mail.wait_for(email, "arrivent à échéance", timeout=30)
    for _ in range(2):  # more scheduled runs: nothing new
        r = requests.post(notify_stack.url + "/function/notify", data=b"", timeout=30)
        assert r.status_code == 200, r.text
    time.sleep(CRON_SECONDS * 2)

    messages = notify_stack.mail.messages()
    for email, message in reminders.items():
        assert [m["To"] for m in messages if m["To"] == email and "échéance" in m["Subject"]] == [email]
        assert message["Subject"] == "2 mandats arrivent à échéance"
        body = text(message)
        assert first.family_name in body and second.family_name in body
        assert "Logement, Transports - Mobilité" in body and "Justice" not in body and "Famille" not in body
        assert "/espace-aidant/" in body
    assert "Bonjour Alice" in text(reminders[alice]) and "Bonjour Bruno" in text(reminders[bruno])
    assert not [m for m in messages if m["To"] in (gone, outsider) and "échéance" in m["Subject"]]
    notify_stack.use_store()
    from shared.store import Mandate

    assert Mandate.get(*Mandate.key(soon_1.id)).reminded_at is not None
    assert Mandate.get(*Mandate.key(soon_2.id)).reminded_at is not None
    assert Mandate.get(*Mandate.key(later.id)).reminded_at is None
    assert Mandate.get(*Mandate.key(short.id)).reminded_at is None  # signed inside the window
