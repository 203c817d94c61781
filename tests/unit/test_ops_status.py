"""``python -m deploy status``'s figures under moto: the outbox's backlog (login links
apart, the oldest wait) and the failed e-mails, read by key."""

import time

from deploy import status
from shared import notifications
from shared.store import OutboxItem
from shared.store.outbox import FAILED_PARTITION


def test_the_backlog_counts_what_is_due_login_links_apart_and_the_oldest_wait(moto_store):
    now = int(time.time())
    for i in range(3):
        notifications.new_item("mandate_created", f"u{i}@example.org", {}).save()
    link = notifications.new_item("login_link", "a@example.org", {}, deliver_by=now + 300)
    link.set_due(now - 40)
    link.save()
    later = notifications.new_item("mandate_created", "later@example.org", {})
    later.set_due(now + 600)  # not due yet: not counted
    later.save()
    found = status.backlog(now)
    assert (found.urgent, found.ordinary) == (1, 3)
    assert found.oldest_due_seconds >= 40


def test_the_report_lists_failed_emails_without_their_sealed_context(moto_store):
    item = notifications.new_item("demarche_done", "usager@example.org", {"secret": "never shown"})
    item.status, item.attempts, item.last_error = "failed", 12, "SMTPRecipientsRefused: 550 no such user"
    item.gsi1pk, item.gsi1sk = FAILED_PARTITION, "0001#" + item.id
    item.save()
    lines = status.report()
    assert lines[0].startswith("outbox: 0 e-mails due")
    assert lines[1].startswith("failed e-mails: 1")
    assert item.id in lines[2] and "demarche_done" in lines[2] and "550" in lines[2]
    assert "never shown" not in "\n".join(lines) and "usager@example.org" not in "\n".join(lines)
    assert OutboxItem.get(*OutboxItem.key(item.id)).status == "failed"
