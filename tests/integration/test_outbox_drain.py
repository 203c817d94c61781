"""The outbox after an outage, through the real stack: a backlog drained by one
scheduled run (login links first, one SMTP connection), dead login links not sent,
kicks retried when the gateway or notify refuses them, one Message-ID per item.

This module's stack has no schedule of its own (``LOCAL_CRON_SECONDS=0``): a run
happens when a test posts to ``/function/notify`` as the cron-connector does, so
whatever else arrives at the SMTP sink came through a kick.
"""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack, _reset_shared_caches

from .test_notifications import fresh_usager, outbox_item, structure, wait_until, with_message_id, write

BACKLOG = 250  # more than two pages (100) of the pending index


@pytest.fixture(scope="module")
def drain_stack(tmp_path_factory):
    from local import launcher

    saved_env = dict(os.environ)
    env = {
        "LOCAL_CRON_SECONDS": "0",
        "STORE_TIMEOUT_SECONDS": "10",
        # a busy 2-core machine is slower than production: room for the whole backlog
        "NOTIFY_RUN_SECONDS": "25",
    }
    for attempt in (1, 2):
        try:
            running = launcher.start(tmp_path_factory.mktemp("drain-stack"), env=env)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    stack = Stack(running.url, running.state, running.env, running.process, running.seed())
    try:
        yield stack
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


def scheduled_run(stack) -> dict:
    """What the cron-connector does: an empty POST."""
    r = requests.post(stack.url + "/function/notify", data=b"", timeout=90)
    assert r.status_code == 200, r.text
    return r.json()


def login_link(stack, expires_in=300):
    stack.use_store()
    from shared import accounts, notifications

    aidant = accounts.find_aidant_by_email(stack.new_aidant(first_name="Nadia"))
    return notifications.login_link_item(
        aidant, f"{stack.url}/api/login/not-a-real-token", int(time.time()) + expires_in
    )


def arrived(stack, items) -> list:
    """The sink's messages for these items, in the order they arrived."""
    wanted = {item.message_id for item in items}
    return [m for m in stack.mail.messages() if m["Message-ID"] in wanted]


# -- after an outage: the backlog --------------------------------------------------------


def test_a_backlog_larger_than_a_page_drains_in_one_run_login_links_first(drain_stack):
    from shared import notifications

    usager, place = fresh_usager(drain_stack), structure(drain_stack)
    backlog = [notifications.demarche_done_item(usager, place, "papiers") for _ in range(BACKLOG)]
    for start in range(0, BACKLOG, 100):
        write(drain_stack, *backlog[start : start + 100], kick=False)  # written while SMTP was down
    links = [login_link(drain_stack) for _ in range(3)]
    write(drain_stack, *links, kick=False)  # written last, their kicks lost

    outcome = scheduled_run(drain_stack)
    assert outcome["sent"] == BACKLOG + 3 and outcome["more"] is False, outcome
    assert outcome["smtp_connections"] == 1

    messages = arrived(drain_stack, backlog + links)
    assert len(messages) == BACKLOG + 3  # each once
    assert {m["Message-ID"] for m in messages[:3]} == {link.message_id for link in links}
    assert len({m["X-Sink-Peer"] for m in messages}) == 1  # one SMTP connection for the run
    assert {m["Message-ID"] for m in messages} == {i.message_id for i in backlog + links}
    assert all(outbox_item(drain_stack, i.id).status == "sent" for i in links + backlog[::50])
    assert scheduled_run(drain_stack)["sent"] == 0


def test_a_login_link_that_expired_before_it_could_be_sent_is_not_sent(drain_stack):
    """After an outage longer than a link lives, the aidant has asked for a new link
    long ago: the dead one would only open on "lien expiré". Marked, logged, not sent."""
    dead = login_link(drain_stack, expires_in=-60)
    alive = login_link(drain_stack)
    write(drain_stack, dead, alive, kick=False)
    outcome = scheduled_run(drain_stack)
    assert outcome["expired"] == 1 and outcome["sent"] == 1, outcome
    [message] = with_message_id(drain_stack, alive)
    assert "(avant " in message.get_body(("plain",)).get_content()
    time.sleep(1)
    assert arrived(drain_stack, [dead]) == []
    item = outbox_item(drain_stack, dead.id)
    assert item.status == "expired" and item.sealed_context is None and item.gsi1pk is None
    log = (drain_stack.state / "logs" / "notify.log").read_text()
    assert f"outbox {dead.id} (login_link) not sent: its link expired" in log


# -- the kick ------------------------------------------------------------------------------


class FlakyGateway:
    """Stands in front of the real gateway: refuses the first ``refusals`` requests
    with 503 (a gateway restarting), then passes them on."""

    def __init__(self, upstream: str, refusals: int):
        self.upstream, self.refusals, self.seen = upstream, refusals, []
        flaky = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                flaky.seen.append(self.path)
                if len(flaky.seen) <= flaky.refusals:
                    status = 503
                else:
                    request = urllib.request.Request(
                        flaky.upstream + self.path,
                        data=body,
                        method="POST",
                        headers={"Content-Type": "application/json"},
                    )
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    with opener.open(request, timeout=5) as answer:
                        status = answer.status
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


def test_a_kick_the_gateway_refuses_is_retried_and_delivers(drain_stack, monkeypatch):
    from shared import config, notifications

    usager = fresh_usager(drain_stack)
    (item,) = write(
        drain_stack, notifications.demarche_done_item(usager, structure(drain_stack), "famille"), kick=False
    )
    flaky = FlakyGateway(drain_stack.url, refusals=2)
    try:
        monkeypatch.setenv("GATEWAY_URL", flaky.url)
        config.reset_caches()
        notifications.kick(item)
    finally:
        flaky.close()
        monkeypatch.setenv("GATEWAY_URL", drain_stack.env["GATEWAY_URL"])
        config.reset_caches()
    assert flaky.seen == ["/async-function/notify"] * 3
    [message] = with_message_id(drain_stack, item, timeout=30)  # no schedule here: the kick did it
    assert message["To"] == usager.email


def _replicas_of(stack, function: str) -> list[int]:
    """Process ids of this stack's replicas of ``function`` (children of its ``local up``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == stack.process.pid and "local.runtime" in argv and function in argv:
            found.append(int(entry.name))
    return found


def test_a_kick_that_meets_a_restarting_notify_is_retried_and_delivers(drain_stack):
    from shared import notifications

    usager, place = fresh_usager(drain_stack), structure(drain_stack)
    [replica] = _replicas_of(drain_stack, "notify")
    os.kill(replica, signal.SIGKILL)  # the gateway's supervisor restarts it in a second or two
    (item,) = write(drain_stack, notifications.demarche_done_item(usager, place, "travail"))  # kicked
    [message] = with_message_id(drain_stack, item, timeout=60)  # no schedule here: the retried kick did it
    assert message["To"] == usager.email
    # Whether the kick met the dead replica or, on a slow machine, the one already
    # restarted, no refused invocation was left without a retry. (The kick's own
    # retries against a refusing gateway are checked deterministically above.)
    refused = [
        line for line in (drain_stack.state / "up.out").read_text().splitlines() if "async notify / -> 50" in line
    ]
    assert all(": retry " in line for line in refused), refused
    wait_until(
        lambda: _replicas_of(drain_stack, "notify") and _replicas_of(drain_stack, "notify") != [replica],
        what="notify restarted",
    )


# -- one Message-ID per item -------------------------------------------------------------------


def test_a_resend_after_a_crash_carries_the_same_message_id(drain_stack, monkeypatch):
    """The one window for a duplicate: the relay accepted the message and the process
    died before marking the item. Played here with shared code: claim with a short
    lease, send to the real sink, no mark; the next run sends it again."""
    from shared import config, crypto, notifications
    from shared.notifications import outbox, smtp

    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "1")
    config.reset_caches()
    usager = fresh_usager(drain_stack)
    (item,) = write(
        drain_stack, notifications.demarche_done_item(usager, structure(drain_stack), "justice"), kick=False
    )
    at = int(time.time())
    assert outbox.claim(item, at, crypto.new_id())
    with smtp.Mailer() as mailer:
        mailer.send(notifications.render(item, at), item.recipient)
    # ... and the process dies here, before mark_sent.
    time.sleep(2.1)  # the lease runs out
    assert scheduled_run(drain_stack)["sent"] == 1
    first, second = with_message_id(drain_stack, item)
    assert first["Message-ID"] == second["Message-ID"] == item.message_id
    done = outbox_item(drain_stack, item.id)
    assert done.status == "sent" and done.attempts == 2
