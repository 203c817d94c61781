"""The outbox under moto: written with the change, found by index, claimed once,
retried with backoff, given up visibly; expiry reminders; the local cron."""

from __future__ import annotations

import email
import importlib.util
import json
import logging
import smtplib
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class FakeRelay:
    """Stands for the SMTP relay: counts connections, records each envelope, and
    hands each message to ``accept`` (a test replaces it to make the relay fail)."""

    def __init__(self):
        self.sent, self.envelopes, self.connections = [], [], 0
        self.accept = self.sent.append

    def connect(self, timeout=None):
        self.connections += 1
        return _FakeClient(self)


class _FakeSocket:
    def settimeout(self, value):
        pass


class _FakeClient:
    def __init__(self, relay):
        self.relay, self.sock = relay, _FakeSocket()

    def send_message(self, message, from_addr=None, to_addrs=None):
        self.relay.accept(message)
        self.relay.envelopes.append((from_addr, list(to_addrs)))

    def sendmail(self, from_addr, to_addrs, msg):
        # What a relay receives: the bytes, read back as the mailbox's reader would.
        self.send_message(email.message_from_bytes(msg, policy=policy.default), from_addr, to_addrs)

    def quit(self):
        self.sock = None

    close = quit


@pytest.fixture
def outbox(moto_store, monkeypatch):
    """The store under moto, SMTP replaced by a fake relay, kicks recorded (not sent)."""
    from shared import config, notifications
    from shared.notifications import smtp

    relay, kicked = FakeRelay(), []
    monkeypatch.setattr(smtp, "connect", relay.connect)
    monkeypatch.setattr(notifications, "kick", lambda *items: kicked.extend(i.id for i in items if i))
    for name in (
        "OUTBOX_MAX_ATTEMPTS",
        "OUTBOX_RETRY_BASE_SECONDS",
        "OUTBOX_RETRY_MAX_SECONDS",
        "OUTBOX_LEASE_SECONDS",
        "REMINDER_WINDOW_DAYS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REMINDER_HOUR", "0")  # tests run at any hour
    config.reset_caches()

    class Box:
        pass

    box = Box()
    box.sent, box.kicked, box.store, box.relay = relay.sent, kicked, moto_store, relay
    return box


def _structure(sid="s1", name="France Services Grand Soissons"):
    from shared import accounts

    structure = accounts.new_structure(
        name, "80204022000019", "1 rue de la République, 02200 Soissons", structure_id=sid
    )
    structure.save()
    return structure


def _aidant(aid, structures, first_name="Camille", active=True):
    from shared import accounts

    aidant, _ = accounts.create_aidant(
        f"{aid}@structure.fr", first_name, "Fwolk", structures, aidant_id=aid, is_active=active, device_kind=None
    )
    return aidant


def _usager(sub="sub-angela", email="angela.dubois@example.fr"):
    from shared import mandates

    return mandates.upsert_usager(
        sub, {"given_name": "Angela Claire Louise", "family_name": "DUBOIS", "birthdate": "1962-08-24", "email": email}
    )


def _mandate(usager, structure_id="s1", demarches=("papiers", "argent"), duration="short"):
    from shared import mandates

    return mandates.create(
        mandates.NewMandate(
            structure_id=structure_id,
            usager=usager,
            demarches=list(demarches),
            duration=duration,
            is_remote=False,
            remote_consent=None,
            aidant_id="a1",
            aidant_name="Camille Fwolk",
            text_snapshot=".",
        )
    )


def _save(*items):
    from pynamodb.connection import Connection
    from pynamodb.transactions import TransactWrite

    from shared import notifications
    from shared.store import transaction_kwargs

    with TransactWrite(connection=Connection(**transaction_kwargs())) as tx:
        for item in items:
            tx.save(item, condition=notifications.save_condition())
    return items[0]


def _reload(item):
    from shared.store import OutboxItem

    return OutboxItem.get(item.pk, item.sk, consistent_read=True)


def _text(message):
    return message.get_body(("plain",)).get_content()


def _html(message):
    return message.get_body(("html",)).get_content()


def _login_item(expires_in=300):
    from shared import accounts, notifications

    aidant = accounts.find_aidant_by_email("a1@structure.fr") or _aidant("a1", ["s1"])
    return notifications.login_link_item(aidant, "http://127.0.0.1/api/login/TOKEN", int(time.time()) + expires_in)


# -- written with the change ---------------------------------------------------------


def test_the_outbox_item_commits_and_rolls_back_with_the_change(outbox):
    from pynamodb.connection import Connection
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from shared import accounts, notifications
    from shared.store import OutboxItem, Structure, transaction_kwargs

    usager = _usager()
    structure = _structure()
    committed = notifications.demarche_done_item(usager, structure, "papiers")
    with TransactWrite(connection=Connection(**transaction_kwargs())) as tx:
        tx.save(
            accounts.new_structure("Autre", "1" * 14, "", structure_id="s2"), condition=Structure.pk.does_not_exist()
        )
        tx.save(committed, condition=notifications.save_condition())
    assert _reload(committed).status == "pending"

    rolled_back = notifications.demarche_done_item(usager, structure, "argent")
    with pytest.raises(TransactWriteError):
        with TransactWrite(connection=Connection(**transaction_kwargs())) as tx:
            tx.save(
                accounts.new_structure("Encore", "1" * 14, "", structure_id="s2"),
                condition=Structure.pk.does_not_exist(),
            )  # s2 exists: the change is refused
            tx.save(rolled_back, condition=notifications.save_condition())
    with pytest.raises(OutboxItem.DoesNotExist):
        _reload(rolled_back)


def test_an_item_passed_to_mandate_creation_commits_and_rolls_back_with_it(outbox):
    from pynamodb.exceptions import TransactWriteError

    from shared import mandates, notifications
    from shared.store import Mandate, OutboxItem, Structure

    usager, structure = _usager(), _structure()

    def spec():
        return mandates.NewMandate(
            structure_id="s1",
            usager=usager,
            demarches=["papiers"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id="a1",
            aidant_name="Camille Fwolk",
            text_snapshot=".",
        )

    kept = notifications.demarche_done_item(usager, structure, "papiers")
    mandates.create(spec(), extra=[notifications.operation(kept)])
    assert _reload(kept).status == "pending"

    lost = notifications.demarche_done_item(usager, structure, "argent")
    pk, sk = Structure.key("no-such-structure")
    refused = ("condition_check", Structure, {"hash_key": pk, "range_key": sk, "condition": Structure.pk.exists()})
    with pytest.raises(TransactWriteError):
        mandates.create(spec(), extra=[notifications.operation(lost), refused])
    with pytest.raises(OutboxItem.DoesNotExist):
        _reload(lost)
    assert len(list(Mandate.gsi1.query("STRUCTURE#s1#MANDATES"))) == 1


def test_builders_return_nothing_for_a_usager_without_email(outbox):
    from shared import notifications

    usager, structure = _usager(email=None), _structure()
    mandate = _mandate(usager)
    assert notifications.mandate_created_item(mandate, usager, structure) is None
    assert notifications.revoked_item(mandate, usager, structure) is None
    assert notifications.demarche_done_item(usager, structure, "papiers") is None


def test_the_context_is_sealed_and_dropped_once_sent(outbox):
    from shared import notifications

    item = _save(_login_item())
    raw = _reload(item)
    assert "TOKEN" not in json.dumps(raw.attribute_values, default=str)
    assert notifications.context_of(raw)["link"].endswith("/api/login/TOKEN")
    assert notifications.deliver(item.id) == "sent"
    done = _reload(item)
    assert done.sealed_context is None and done.gsi1pk is None and done.ttl > time.time()
    assert "/api/login/TOKEN" in _text(outbox.sent[0])


# -- found by index, delivered once ------------------------------------------------


def test_due_items_are_found_by_index_without_scan(outbox):
    from shared import notifications, store

    usager, structure = _usager(), _structure()
    items = [_save(notifications.demarche_done_item(usager, structure, d)) for d in ("papiers", "argent", "social")]
    store.calls.reset()
    due = notifications.pending_due()
    assert {i.id for i in due} == {i.id for i in items}
    assert set(store.calls.operations) == {"Query"}
    assert len(store.calls.operations) == 8  # one per shard, urgent then ordinary
    assert notifications.pending_due(at=int(time.time()) - 60) == []


def test_the_async_delivery_claims_without_reading_first(outbox):
    from shared import notifications, store

    item = _save(_login_item())
    store.calls.reset()
    assert notifications.deliver(item.id) == "sent"
    assert store.calls.operations == ["UpdateItem", "UpdateItem"]  # claim (returns the item), mark sent
    assert "/api/login/TOKEN" in _text(outbox.sent[0])
    assert notifications.deliver("nothing-by-that-id") == "missing"


def test_a_second_delivery_sends_nothing(outbox):
    from shared import notifications

    item = _save(_login_item())
    assert notifications.deliver(item.id) == "sent"
    assert notifications.deliver(item.id) == "skipped"
    assert notifications.drive_pending()["sent"] == 0
    assert len(outbox.sent) == 1
    assert outbox.sent[0]["Message-ID"] == item.message_id


def test_two_concurrent_deliveries_send_one_email(outbox, monkeypatch):
    from shared import notifications

    item = _save(_login_item())
    first, second = _reload(item), _reload(item)  # both saw it pending
    outcomes = []

    def send_while_another_delivery_starts(message):
        outcomes.append(notifications.deliver_item(second))
        outbox.sent.append(message)

    outbox.relay.accept = send_while_another_delivery_starts
    assert notifications.deliver_item(first) == "sent"
    assert outcomes == ["skipped"] and len(outbox.sent) == 1
    assert _reload(item).status == "sent"


def test_a_delivery_that_died_is_taken_over_when_its_lease_ends(outbox, monkeypatch):
    from shared import notifications
    from shared.config import settings

    item = _save(_login_item())
    t = int(time.time())

    def die(message):
        raise SystemExit("the function was killed mid-send")

    outbox.relay.accept = die
    with pytest.raises(SystemExit):
        notifications.deliver_item(_reload(item), at=t)
    outbox.relay.accept = lambda m: outbox.sent.append(m)
    assert notifications.pending_due(at=t + 10) == []  # leased: not due
    assert notifications.deliver_item(_reload(item), at=t + 10) == "skipped"
    lease_end = t + settings().outbox_lease_seconds
    assert [i.id for i in notifications.pending_due(at=lease_end + 1)] == [item.id]
    assert notifications.drive_pending(at=lease_end + 1)["sent"] == 1
    assert _reload(item).attempts == 2 and len(outbox.sent) == 1


# -- failures --------------------------------------------------------------------------


def test_smtp_down_retries_with_backoff_then_fails_visibly(outbox, monkeypatch, caplog):
    from shared import config, notifications

    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "4")
    config.reset_caches()
    item = _save(notifications.demarche_done_item(_usager(), _structure(), "papiers"))

    def refused(message):
        raise ConnectionRefusedError(111, "Connection refused")

    outbox.relay.accept = refused
    t = int(time.time())
    delays = []
    for _ in range(3):
        assert notifications.deliver_item(_reload(item), at=t) == "unreachable"
        current = _reload(item)
        assert current.status == "pending" and "Connection refused" in current.last_error
        delays.append(current.next_attempt_at - t)
        assert notifications.deliver_item(current, at=t) == "skipped"  # not due yet
        t = current.next_attempt_at
    assert delays == [30, 60, 120]
    with caplog.at_level(logging.ERROR, logger="aidants_connect.notifications"):
        assert notifications.deliver_item(_reload(item), at=t) == "unreachable"
    failed = _reload(item)
    assert failed.status == "failed" and failed.attempts == 4 and failed.ttl is None
    assert [i.id for i in notifications.failed_items()] == [item.id]
    assert notifications.pending_due(at=t + 10**6) == []
    assert any(item.id in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert "@" not in " ".join(r.getMessage() for r in caplog.records)  # no address in the logs

    outbox.relay.accept = lambda m: outbox.sent.append(m)
    assert notifications.requeue(item.id)
    assert notifications.drive_pending()["sent"] == 1
    assert notifications.failed_items() == [] and len(outbox.sent) == 1


def test_a_link_the_relay_could_not_take_is_due_again_within_seconds(outbox):
    """When SMTP comes back, a link kicked in the outage's last seconds is due at
    once, not after 30 s of back-off; a link the relay refused keeps its back-off."""
    from shared import notifications

    link = _save(_login_item())
    t = int(time.time())

    def refused(message):
        raise ConnectionRefusedError(111, "Connection refused")

    outbox.relay.accept = refused
    assert notifications.deliver_item(_reload(link), at=t) == "unreachable"
    assert _reload(link).next_attempt_at - t == notifications.URGENT_UNREACHABLE_RETRY_SECONDS

    def greylisted(message):
        raise smtplib.SMTPRecipientsRefused({"a1@structure.fr": (450, b"greylisted")})

    outbox.relay.accept = greylisted
    t = _reload(link).next_attempt_at
    assert notifications.deliver_item(_reload(link), at=t) == "retry"
    assert _reload(link).next_attempt_at - t == notifications.retry_delay(2)


def test_backoff_is_capped():
    from shared import notifications

    assert notifications.retry_delay(1) == 30
    assert notifications.retry_delay(8) == 3600
    assert notifications.retry_delay(30) == 3600


def test_a_permanent_refusal_fails_at_once(outbox, monkeypatch):
    from shared import notifications

    item = _save(_login_item())

    def no_such_user(message):
        raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"5.1.1 no such user")})

    outbox.relay.accept = no_such_user
    assert notifications.deliver(item.id) == "failed"
    assert _reload(item).attempts == 1
    assert [i.id for i in notifications.failed_items()] == [item.id]


def test_a_login_link_not_sent_in_time_is_expired_not_sent(outbox, caplog):
    """A dead link would only open on "lien expiré": not sent, marked, logged; not
    on the ops list either, since requeueing it could only expire it again."""
    from shared import notifications

    item = _save(_login_item(expires_in=-1))
    with caplog.at_level(logging.WARNING, logger="aidants_connect.notifications"):
        assert notifications.deliver(item.id) == "expired"
    assert outbox.sent == [] and outbox.relay.connections == 0
    expired = _reload(item)
    assert expired.status == "expired" and expired.sealed_context is None and expired.gsi1pk is None
    assert expired.ttl > time.time()
    assert notifications.failed_items() == [] and not notifications.requeue(item.id)
    assert any(item.id in r.getMessage() and "expired" in r.getMessage() for r in caplog.records)


def test_a_dead_link_found_by_the_scheduled_run_is_expired_in_one_write(outbox):
    from shared import notifications, store

    dead = _save(_login_item(expires_in=-5))
    store.calls.reset()
    outcome = notifications.drive_pending()
    assert outcome["expired"] == 1 and outcome["sent"] == 0 and outbox.sent == []
    assert store.calls.operations.count("UpdateItem") == 1  # no claim first
    assert _reload(dead).status == "expired" and _reload(dead).attempts == 0


def test_the_link_email_says_how_long_is_left_when_it_is_sent(outbox):
    from shared import notifications

    item = _save(_login_item(expires_in=170))  # sent late: over two of its five minutes gone
    assert notifications.deliver(item.id) == "sent"
    text = _text(outbox.sent[0])
    assert "dans les 3 minutes (avant " in text and "dans les 5 minutes" not in text


def test_a_scheduled_run_stops_at_the_first_unreachable_smtp(outbox, monkeypatch):
    from shared import notifications

    usager, structure = _usager(), _structure()
    items = [_save(notifications.demarche_done_item(usager, structure, d)) for d in ("papiers", "argent", "social")]

    def refused(message):
        raise ConnectionRefusedError(111, "Connection refused")

    outbox.relay.accept = refused
    outcome = notifications.drive_pending()
    assert outcome["unreachable"] == 1 and outcome["deferred"] == 2
    assert sorted(_reload(i).attempts for i in items) == [0, 0, 1]


# -- draining a backlog ----------------------------------------------------------------


def _backlog(count):
    """``count`` ordinary e-mails, written in transactions of up to 100 as functions do."""
    from shared import notifications

    usager, structure = _usager(), _structure()
    items = [notifications.demarche_done_item(usager, structure, "papiers") for _ in range(count)]
    for start in range(0, count, 100):
        _save(*items[start : start + 100])
    return items


def test_a_backlog_larger_than_a_page_drains_in_one_run_over_one_connection(outbox, monkeypatch):
    from shared import notifications
    from shared.notifications import due
    from shared.store.outbox import PENDING_SHARDS

    monkeypatch.setattr(due, "PAGE", 3)  # moto is slow; the integration test has full pages
    items = _backlog(PENDING_SHARDS * due.PAGE * 2 + 5)  # several pages of each partition
    outcome = notifications.run_scheduled()
    assert outcome["sent"] == len(items) and outcome["more"] is False and outcome["deferred"] == 0
    assert outcome["smtp_connections"] == 1 and outbox.relay.connections == 1
    assert {m["Message-ID"] for m in outbox.sent} == {i.message_id for i in items}
    assert notifications.pending_due() == []


def test_login_links_go_before_a_backlog_of_other_emails(outbox):
    from shared import notifications

    _backlog(30)
    links = [_save(_login_item()) for _ in range(3)]  # written last
    notifications.drive_pending()
    assert {m["Message-ID"] for m in outbox.sent[:3]} == {i.message_id for i in links}
    assert len(outbox.sent) == 33


def test_a_link_written_during_a_long_drain_overtakes_the_rest(outbox, monkeypatch):
    """Its kick lost, a link written while a backlog drains waits for the next look at
    the urgent partitions (every second), not for the end of the backlog."""
    from shared import notifications
    from shared.notifications import due

    monkeypatch.setattr(due, "URGENT_RECHECK_SECONDS", 0.0)
    _backlog(20)
    late = []

    def accept(message):
        outbox.sent.append(message)
        if len(outbox.sent) == 5:
            late.append(_save(_login_item()))

    outbox.relay.accept = accept
    notifications.drive_pending()
    assert outbox.sent[5]["Message-ID"] == late[0].message_id
    assert len(outbox.sent) == 21


def test_a_link_written_in_the_second_of_one_already_read_is_not_skipped(outbox, monkeypatch):
    """Same partition, same due second, an id that sorts first: it lands before the
    last link the run read, and the run still finds it."""
    from shared import notifications
    from shared.notifications import due
    from shared.store.outbox import due_key

    monkeypatch.setattr(due, "URGENT_RECHECK_SECONDS", 0.0)
    _backlog(5)
    first = _save(_login_item())
    second = _login_item()
    while second.id > first.id or second.gsi1pk != first.gsi1pk:
        second = _login_item()
    second.next_attempt_at, second.gsi1sk = first.next_attempt_at, due_key(first.next_attempt_at, second.id)

    def accept(message):
        outbox.sent.append(message)
        if message["Message-ID"] == first.message_id:
            _save(second)

    outbox.relay.accept = accept
    assert notifications.drive_pending()["sent"] == 7
    assert [m["Message-ID"] for m in outbox.sent[:2]] == [first.message_id, second.message_id]


def test_a_run_stops_when_its_budget_is_spent_and_says_more_is_due(outbox, monkeypatch):
    from shared import notifications

    _backlog(10)
    monkeypatch.setenv("NOTIFY_RUN_SECONDS", "0")
    from shared import config

    config.reset_caches()
    outcome = notifications.run_scheduled()
    assert outcome["sent"] == 0 and outcome["more"] is True and outcome["deferred"] == 10
    monkeypatch.delenv("NOTIFY_RUN_SECONDS")
    config.reset_caches()
    assert notifications.run_scheduled()["sent"] == 10


def test_the_envelope_names_the_item_recipient_not_the_headers(outbox):
    from shared import notifications
    from shared.notifications import smtp

    item = _save(_login_item())
    notifications.deliver(item.id)
    assert outbox.relay.envelopes == [(smtp.envelope_sender(), ["a1@structure.fr"])]
    assert smtp.envelope_sender() == "nepasrepondre@aidantsconnect.beta.gouv.fr"


def test_a_relay_that_dropped_the_kept_connection_gets_a_new_one(outbox):
    from shared import notifications

    _backlog(6)
    dropped = []

    def accept(message):
        if len(outbox.sent) == 3 and not dropped:
            dropped.append(message["Message-ID"])
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        outbox.sent.append(message)

    outbox.relay.accept = accept
    outcome = notifications.drive_pending()
    assert outcome["sent"] == 6 and outbox.relay.connections == 2
    assert len({m["Message-ID"] for m in outbox.sent}) == 6


def test_a_message_the_relay_refuses_keeps_the_connection_for_the_next(outbox):
    from shared import notifications

    _backlog(3)

    def accept(message):
        if not outbox.sent and not getattr(accept, "refused", False):
            accept.refused = True
            raise smtplib.SMTPRecipientsRefused({"x": (450, b"greylisted")})
        outbox.sent.append(message)

    outbox.relay.accept = accept
    outcome = notifications.drive_pending()
    assert outcome["retry"] == 1 and outcome["sent"] == 2 and outbox.relay.connections == 1


# -- what each e-mail says -------------------------------------------------------------


def test_mandate_created_email(outbox):
    from shared import notifications
    from shared.config import settings

    usager, structure = _usager(), _structure()
    mandate = _mandate(usager, demarches=["papiers", "argent"], duration="long")
    _save(notifications.mandate_created_item(mandate, usager, structure))
    notifications.drive_pending()
    message = outbox.sent[0]
    assert message["To"] == "angela.dubois@example.fr" and message["From"] == settings().mail_from
    assert "France Services Grand Soissons" in message["Subject"]
    text, html = _text(message), _html(message)
    for body in (text, html):
        assert "Angela Claire Louise DUBOIS" in body
        assert "Papiers - Citoyenneté - Élections" in body and "Argent - Impôts - Consommation" in body
        assert "Famille" not in body
        assert "12 mois" in body and "révoquer" in body.lower() and mandate.id in body
        assert "1 rue de la République" in body
        assert "contact@aidantsconnect.beta.gouv.fr" in body
        assert "Camille" not in body  # the aidant is not the usager's business here


def test_partial_revocation_email_lists_what_remains(outbox):
    from shared import notifications

    usager, structure = _usager(), _structure()
    mandate = _mandate(usager, demarches=["papiers", "argent", "social"], duration="long")
    _save(notifications.revoked_item(mandate, usager, structure, demarches=["argent"]))
    _save(notifications.revoked_item(mandate, usager, structure))
    notifications.drive_pending()
    partial, whole = sorted(outbox.sent, key=lambda m: "modifié" not in m["Subject"])
    assert "a été modifié" in partial["Subject"]
    text = _text(partial)
    revoked, remaining = text.split("Ils peuvent toujours")
    assert "Argent" in revoked and "Papiers" not in revoked
    assert "Papiers" in remaining and "Social" in remaining and "Argent" not in remaining
    assert "est révoqué" in whole["Subject"]
    assert all(t in _text(whole) for t in ("Papiers", "Argent", "Social"))
    assert "Ils peuvent toujours" not in _text(whole)


def test_demarche_done_email_names_the_structure_not_the_aidant(outbox):
    from shared import notifications

    usager, structure = _usager(), _structure()
    at = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
    _save(notifications.demarche_done_item(usager, structure, "transports", at=at, service="ANTS"))
    notifications.drive_pending()
    message = outbox.sent[0]
    assert message["To"] == "angela.dubois@example.fr"
    for body in (_text(message), _html(message)):
        assert "24 novembre 2026 à 10h30" in body  # Paris time
        assert "Transports - Mobilité" in body and "France Services Grand Soissons" in body and "ANTS" in body
        assert "Camille" not in body and "Fwolk" not in body


# -- expiry reminders ------------------------------------------------------------------


def _expiring_in(mandate, days: float, signed_days_before: int = 365):
    """Time travel: a mandate signed long ago that now ends in ``days``."""
    from shared.store import Mandate, now

    end = now() + timedelta(days=days)
    Mandate(*Mandate.key(mandate.id)).update(
        actions=[
            Mandate.expires_at.set(end),
            Mandate.created_at.set(end - timedelta(days=signed_days_before)),
            Mandate.gsi3pk.set(f"EXPIRY#{end.date().isoformat()}"),
            Mandate.gsi3sk.set(f"{end.isoformat(timespec='seconds')}#{mandate.id}"),
        ]
    )
    return mandate


def _revoke(mandate):
    from shared.store import Mandate, now

    Mandate(*Mandate.key(mandate.id)).update(
        actions=[Mandate.revoked_at.set(now()), Mandate.gsi3pk.remove(), Mandate.gsi3sk.remove()]
    )


def test_reminders_one_email_per_aidant_once_per_mandate(outbox):
    from shared import notifications, store
    from shared.store import Mandate

    _structure("s1"), _structure("s2", "Médiathèque de Laon")
    _aidant("alice", ["s1"], "Alice")
    _aidant("bruno", ["s1"], "Bruno")
    _aidant("chloe", ["s1"], "Chloé", active=False)
    _aidant("dalia", ["s2"], "Dalia")
    first = _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 3)
    second = _expiring_in(_mandate(_usager("sub-2"), "s1", ["argent", "social"], "long"), 6.5)
    later = _expiring_in(_mandate(_usager("sub-3"), "s1", ["papiers"], "long"), 9)
    revoked = _expiring_in(_mandate(_usager("sub-4"), "s1", ["logement"], "long"), 2)
    _revoke(revoked)
    short = _mandate(_usager("sub-6"), "s1", ["famille"], "short")
    other = _expiring_in(_mandate(_usager("sub-5"), "s2", ["justice"], "long"), 1)

    store.calls.reset()
    written = notifications.compute_reminders()
    assert "Scan" not in store.calls.operations
    assert {i.recipient for i in written} == {"alice@structure.fr", "bruno@structure.fr", "dalia@structure.fr"}
    notifications.drive_pending()
    by_recipient = {m["To"]: m for m in outbox.sent}
    assert set(by_recipient) == {"alice@structure.fr", "bruno@structure.fr", "dalia@structure.fr"}
    alice = _text(by_recipient["alice@structure.fr"])
    assert by_recipient["alice@structure.fr"]["Subject"] == "2 mandats arrivent à échéance"
    assert "Bonjour Alice" in alice and alice.count("Angela Claire Louise DUBOIS") == 2
    assert "Social - Santé, Argent - Impôts - Consommation" in alice
    assert "Logement" not in alice and "Famille" not in alice
    assert "/espace-aidant/" in alice
    assert "Justice" in _text(by_recipient["dalia@structure.fr"])
    assert by_recipient["dalia@structure.fr"]["Subject"] == "Un mandat arrive à échéance"
    for mandate, reminded in (
        (first, True),
        (second, True),
        (other, True),
        (later, False),
        (revoked, False),
        (short, False),
    ):
        assert (Mandate.get(*Mandate.key(mandate.id)).reminded_at is not None) is reminded

    assert notifications.compute_reminders() == []
    assert notifications.run_scheduled()["reminders"] == 0
    assert len(outbox.sent) == 3


def test_an_aidant_of_two_structures_gets_one_reminder(outbox):
    from shared import notifications

    _structure("s1"), _structure("s2", "Médiathèque de Laon")
    _aidant("alice", ["s1", "s2"], "Alice")
    _aidant("bruno", ["s2"], "Bruno")
    _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 2)
    _expiring_in(_mandate(_usager("sub-2"), "s2", ["argent"], "long"), 4)
    written = notifications.compute_reminders()
    assert sorted(i.recipient for i in written) == ["alice@structure.fr", "bruno@structure.fr"]
    notifications.drive_pending()
    alice = next(_text(m) for m in outbox.sent if m["To"] == "alice@structure.fr")
    assert "(France Services Grand Soissons)" in alice and "(Médiathèque de Laon)" in alice


def test_the_reminder_window_is_configurable(outbox, monkeypatch):
    from shared import config, notifications

    _structure("s1")
    _aidant("alice", ["s1"], "Alice")
    _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 10)
    assert notifications.compute_reminders() == []
    monkeypatch.setenv("REMINDER_WINDOW_DAYS", "10")
    config.reset_caches()
    assert len(notifications.compute_reminders()) == 1
    assert notifications.expiring_mandates(datetime.now(timezone.utc), 10) == []  # reminded once


def test_the_window_counts_whole_paris_days_from_the_reminder_hour(outbox, monkeypatch):
    from shared import config, notifications
    from shared.templates import PARIS

    monkeypatch.setenv("REMINDER_HOUR", "8")
    config.reset_caches()
    _structure("s1")
    _aidant("alice", ["s1"], "Alice")
    mandate = _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 7.4)
    paris = PARIS
    from shared.store import Mandate

    mandate_end = Mandate.get(*Mandate.key(mandate.id)).expires_at
    day = (mandate_end.astimezone(paris) - timedelta(days=7)).date()
    early = datetime(day.year, day.month, day.day, 7, 59, tzinfo=paris)
    morning = datetime(day.year, day.month, day.day, 8, 0, tzinfo=paris)
    day_before = morning - timedelta(days=1)
    assert notifications.compute_reminders(at=early) == []  # not before 8:00
    assert notifications.compute_reminders(at=day_before) == []  # 8 days ahead: not yet
    assert len(notifications.compute_reminders(at=morning)) == 1  # 7 days and some hours


def test_a_mandate_signed_inside_the_window_gets_no_reminder(outbox):
    from shared import notifications

    _structure("s1")
    _aidant("alice", ["s1"], "Alice")
    _mandate(_usager("sub-1"), "s1", ["papiers"], "short")  # ends tomorrow
    _expiring_in(_mandate(_usager("sub-2"), "s1", ["papiers"], "long"), 3, signed_days_before=5)
    assert notifications.compute_reminders() == []


def _ending_tonight(mandate):
    """Time travel: a short mandate signed yesterday, so it ends this evening."""
    from shared.notifications.reminders import window_end
    from shared.store import Mandate, now

    end = window_end(now(), 0)
    Mandate(*Mandate.key(mandate.id)).update(
        actions=[
            Mandate.expires_at.set(end),
            Mandate.created_at.set(now() - timedelta(days=1)),
            Mandate.gsi3pk.set(f"EXPIRY#{end.astimezone(timezone.utc).date().isoformat()}"),
            Mandate.gsi3sk.set(f"{end.astimezone(timezone.utc).isoformat(timespec='seconds')}#{mandate.id}"),
        ]
    )
    return mandate


def test_a_short_mandate_is_reminded_on_its_last_morning_to_the_aidant_who_signed_it(outbox):
    from shared import notifications
    from shared.store import Mandate

    _structure("s1")
    _aidant("a1", ["s1"], "Alice")  # signed it (``_mandate``)
    _aidant("bruno", ["s1"], "Bruno")
    tomorrow = _mandate(_usager("sub-1"), "s1", ["papiers"], "short")  # signed today: tomorrow evening
    tonight = _ending_tonight(_mandate(_usager("sub-2"), "s1", ["famille"], "short"))
    written = notifications.compute_reminders()
    assert [i.recipient for i in written] == ["a1@structure.fr"]  # not the whole team
    notifications.drive_pending()
    (message,) = outbox.sent
    assert message["Subject"] == "Un mandat se termine ce soir"
    body = _text(message)
    assert "Famille" in body and "Se termine ce soir" in body and "Papiers" not in body
    assert "Un mandat court ne se prolonge pas" in body
    assert Mandate.get(*Mandate.key(tonight.id)).reminded_at is not None
    assert Mandate.get(*Mandate.key(tomorrow.id)).reminded_at is None  # its turn is tomorrow morning
    assert notifications.compute_reminders() == []  # once


def test_a_short_mandate_whose_signer_left_is_reminded_to_the_structure(outbox):
    from shared import notifications

    _structure("s1")
    _aidant("a1", ["s1"], "Alice", active=False)  # signed it, no longer acts for s1
    _aidant("bruno", ["s1"], "Bruno")
    _aidant("chloe", ["s1"], "Chloé")
    _ending_tonight(_mandate(_usager("sub-1"), "s1", ["papiers"], "short"))
    written = notifications.compute_reminders()
    assert sorted(i.recipient for i in written) == ["bruno@structure.fr", "chloe@structure.fr"]


def test_a_reminder_written_before_short_mandates_were_reminded_still_renders(outbox):
    """An outbox item written by the previous code has no ``ends_today``."""
    from shared import notifications
    from shared.notifications import items

    _structure("s1")
    aidant = _aidant("alice", ["s1"], "Alice")
    mandate = _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 3)
    item = items.expiry_reminder_item(aidant, [mandate], {"s1": _structure("s1")})
    context = notifications.context_of(item)
    for entry in context["mandates"]:
        entry.pop("ends_today")
    item = notifications.new_item(items.EXPIRY_REMINDER, aidant.email, context)
    message = notifications.render(item)
    assert message["Subject"] == "Un mandat arrive à échéance" and "Fin le" in _text(message)


def test_a_revocation_racing_the_reminder_cancels_the_whole_transaction(outbox, monkeypatch):
    from shared import notifications
    from shared.notifications import reminders

    _structure("s1")
    _aidant("alice", ["s1"], "Alice")
    mandate = _expiring_in(_mandate(_usager("sub-1"), "s1", ["papiers"], "long"), 3)
    found = notifications.expiring_mandates(datetime.now(timezone.utc), 7)
    _revoke(mandate)  # between the Query and the transaction
    monkeypatch.setattr(reminders, "expiring_mandates", lambda at, days: found)
    assert notifications.compute_reminders() == []
    assert notifications.pending_due() == []


# -- the login link goes through the outbox ------------------------------------------


def test_login_link_is_written_with_the_link_and_kicked(outbox):
    from shared import crypto, journal, login, notifications
    from shared.store import LoginLink, OutboxItem

    aidant = _aidant("a1", ["s1"])
    _structure("s1")
    login.send_link(aidant, "s1", "/mandats/")
    assert len(outbox.kicked) == 1
    item = OutboxItem.get(*OutboxItem.key(outbox.kicked[0]))
    assert item.template == "login_link" and item.recipient == "a1@structure.fr"
    link = notifications.context_of(item)["link"]
    token = link.rsplit("/", 1)[1]
    assert LoginLink.get(*LoginLink.key(crypto.keyed_hash(token, "login-link"))).next_path == "/mandats/"
    assert item.deliver_by == LoginLink.get(*LoginLink.key(crypto.keyed_hash(token, "login-link"))).expires_at
    assert journal.for_aidant("a1")[0].action == journal.LOGIN_LINK_SENT
    assert outbox.sent == []  # not sent by the login request itself
    assert notifications.deliver(item.id) == "sent"
    assert "Bonjour Camille" in _text(outbox.sent[0]) and link in _text(outbox.sent[0])


class FlakyGateway:
    """A real HTTP server standing for the gateway: answers ``statuses`` in turn (the
    last one for ever), counting the POSTs to /async-function/notify."""

    def __init__(self, *statuses):
        import http.server
        import threading

        self.statuses, self.posts = list(statuses), []
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.posts.append((self.path, json.loads(body)))
                status = gateway.statuses.pop(0) if len(gateway.statuses) > 1 else gateway.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(moto_store, monkeypatch):
    from shared import config

    made = []

    def make(*statuses, budget="1"):
        flaky = FlakyGateway(*statuses)
        made.append(flaky)
        monkeypatch.setenv("GATEWAY_URL", flaky.url)
        monkeypatch.setenv("NOTIFY_KICK_BUDGET_SECONDS", budget)
        config.reset_caches()
        return flaky

    yield make
    for flaky in made:
        flaky.close()
    config.reset_caches()


def test_a_kick_the_gateway_refuses_is_retried(gateway, caplog):
    from shared import notifications

    flaky = gateway(503, 502, 202)
    item = notifications.new_item("login_link", "x@example.fr", {})
    with caplog.at_level(logging.WARNING, logger="aidants_connect.notifications"):
        notifications.kick(item)
    assert flaky.posts == [("/async-function/notify", {"item": item.id})] * 3
    assert not caplog.records  # accepted the third time: nothing to report


def test_a_kick_gives_up_within_its_budget_and_never_fails_the_request(gateway, caplog):
    from shared import notifications

    flaky = gateway(503, budget="0.25")
    items = [notifications.new_item("login_link", f"x{i}@example.fr", {}) for i in range(3)]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="aidants_connect.notifications"):
        notifications.kick(*items)
    assert time.monotonic() - started < 0.25 + 0.2  # one budget for the whole kick
    per_item = Counter(body["item"] for _, body in flaky.posts)
    assert set(per_item) <= {i.id for i in items} and max(per_item.values()) <= 3
    assert sum("scheduled run" in r.getMessage() for r in caplog.records) == 3


def test_a_kick_refused_for_what_it_is_is_not_retried(gateway):
    from shared import notifications

    flaky = gateway(404)
    notifications.kick(notifications.new_item("login_link", "x@example.fr", {}))
    assert len(flaky.posts) == 1


def test_kick_never_fails_the_caller(moto_store, monkeypatch, caplog):
    from shared import notifications

    monkeypatch.setenv("GATEWAY_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    from shared import config

    config.reset_caches()
    item = notifications.new_item("login_link", "x@example.fr", {})
    with caplog.at_level(logging.WARNING, logger="aidants_connect.notifications"):
        notifications.kick(item, None)
    assert any("scheduled run" in r.getMessage() for r in caplog.records)


# -- the function --------------------------------------------------------------------


class Event:
    def __init__(self, body: bytes, content_type: str | None = "application/json"):
        self.body, self.method, self.path, self.query = body, "POST", "/", {}
        self.headers = {"Content-Type": content_type} if content_type else {}


def _handler():
    spec = importlib.util.spec_from_file_location("notify_handler", ROOT / "functions" / "notify" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notify_handler_delivers_one_item_or_runs_the_schedule(outbox):
    handler = _handler()
    item = _save(_login_item())
    answer = handler.handle(Event(json.dumps({"item": item.id}).encode()), None)
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"item": item.id, "outcome": "sent"}
    answer = handler.handle(Event(b"", content_type=None), None)  # the cron-connector
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["reminders"] == 0
    answer = handler.handle(Event(b'{"run": "scheduled"}'), None)
    assert answer["statusCode"] == 200
    for bad in (b"[1]", b"{", b'{"item": 3}', b'{"run": "everything"}'):
        assert handler.handle(Event(bad), None)["statusCode"] == 400
    assert len(outbox.sent) == 1


# -- the local cron ------------------------------------------------------------------


def test_local_scheduler_reads_the_notify_schedule_from_stack_yml():
    from local import scheduler

    schedules = scheduler.scheduled_functions()
    assert "notify" in schedules
    cron = schedules["notify"]
    start = datetime(2026, 11, 24, 10, 2, 30, tzinfo=timezone.utc)
    assert cron.next_after(start) == datetime(2026, 11, 24, 10, 3, tzinfo=timezone.utc)
    assert cron.next_after(datetime(2026, 11, 24, 10, 59, tzinfo=timezone.utc)).hour == 11


def test_no_scheduled_run_is_further_from_the_last_than_a_login_link_lives(clean_environment):
    """A login link whose kick was lost is sent by the next run: the gap between two
    runs must leave the aidant most of the link's life."""
    from local import scheduler
    from shared.config import settings

    cron = scheduler.scheduled_functions()["notify"]
    moment = datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc)
    longest = timedelta(0)
    for _ in range(24 * 60):
        following = cron.next_after(moment)
        longest, moment = max(longest, following - moment), following
    assert longest.total_seconds() <= settings().login_link_ttl_seconds / 4


def test_cron_expressions():
    from local.scheduler import Cron

    at = datetime(2026, 11, 24, 8, 30, tzinfo=timezone.utc)  # a Tuesday
    assert Cron.parse("30 8 * * *").matches(at)
    assert Cron.parse("0-30/15 8-9 * * 1-5").matches(at)
    assert not Cron.parse("30 8 * * 0,6").matches(at)
    assert Cron.parse("30 8 1 * 2").matches(at)  # either day field, as cron does
    assert not Cron.parse("30 8 1 * 3").matches(at)
    assert Cron.parse("0 0 * * 7").matches(datetime(2026, 11, 29, tzinfo=timezone.utc))  # Sunday
    for bad in ("* * * *", "61 * * * *", "*/0 * * * *", "mon * * * *"):
        with pytest.raises(ValueError):
            Cron.parse(bad)


def test_only_an_unreachable_relay_stops_a_scheduled_run():
    import socket

    from shared.notifications import smtp

    assert smtp.unreachable(ConnectionRefusedError(111, "refused"))
    assert smtp.unreachable(socket.timeout("timed out"))
    assert smtp.unreachable(smtplib.SMTPConnectError(421, b"busy"))
    assert smtp.unreachable(smtplib.SMTPServerDisconnected("gone"))
    assert not smtp.unreachable(smtplib.SMTPRecipientsRefused({"a@b.fr": (450, b"greylisted")}))
    assert not smtp.unreachable(smtplib.SMTPAuthenticationError(535, b"bad password"))
    assert not smtp.permanent(smtplib.SMTPRecipientsRefused({"a@b.fr": (450, b"greylisted")}))
    assert smtp.permanent(smtplib.SMTPDataError(554, b"rejected"))
    assert not smtp.permanent(smtplib.SMTPAuthenticationError(535, b"bad password"))


# -- what leaves, and over which connection ----------------------------------------------


def test_an_email_is_written_without_the_email_package_and_reads_back_the_same(outbox, monkeypatch):
    from shared import config
    from shared.notifications import messages

    monkeypatch.setenv("MAIL_FROM", "Aidants Connect — équipe <nepasrepondre@aidantsconnect.beta.gouv.fr>")
    config.reset_caches()
    subject = "Une démarche a été réalisée pour vous par la Maison France Services de Château-Thierry\r\nBcc: x@y.fr"
    text, html = "Bonjour Angéla,\n\n" + "démarche " * 40 + "\n", "<p>Bonjour Angéla</p>\n"
    mail = messages.build("angela.dubois@example.fr", subject, text, html, "<id@aidantsconnect>")
    raw = mail.as_bytes()
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 998
    read = email.message_from_bytes(raw, policy=policy.default)
    # A line break in a header is a space: no header can be injected through one.
    assert str(read["Subject"]) == " ".join(subject.split()) and read["Bcc"] is None
    assert read["From"].addresses[0].display_name == "Aidants Connect — équipe"
    assert (read["To"], read["Message-ID"]) == ("angela.dubois@example.fr", "<id@aidantsconnect>")
    assert read["Date"].datetime is not None
    assert read.get_body(("plain",)).get_content() == text
    assert read.get_body(("html",)).get_content() == html


def test_async_deliveries_in_a_burst_share_one_smtp_connection(outbox, monkeypatch):
    from shared import config, notifications

    items = [_save(_login_item()) for _ in range(3)]
    assert [notifications.deliver(item.id) for item in items] == ["sent"] * 3
    assert outbox.relay.connections == 1 and len(outbox.sent) == 3
    monkeypatch.setenv("NOTIFY_SMTP_KEEP_SECONDS", "0")  # one connection per item, as before
    config.reset_caches()
    items = [_save(_login_item()) for _ in range(2)]
    assert [notifications.deliver(item.id) for item in items] == ["sent"] * 2
    assert outbox.relay.connections == 3


def test_a_kept_connection_the_relay_dropped_is_reopened_and_the_message_sent(outbox):
    from shared import notifications

    first, second = _save(_login_item()), _save(_login_item())
    assert notifications.deliver(first.id) == "sent"
    accept = outbox.relay.accept

    def dropped_once(message):
        outbox.relay.accept = accept
        raise smtplib.SMTPServerDisconnected("idle too long")

    outbox.relay.accept = dropped_once
    assert notifications.deliver(second.id) == "sent"
    assert outbox.relay.connections == 2 and len(outbox.sent) == 2
