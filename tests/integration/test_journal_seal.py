"""The tamper-evident journal against DynamoDB Local: entries written by real logins,
sealed by `python -m local journal seal`, checked by `python -m local journal verify`;
entries altered, removed and inserted behind the application's back (straight into
the table, as someone with write access would) are named; a late entry is sealed
later; concurrent seal runs make one chain.

Each tampering is undone before the next test, so the stack's journal stays intact
for the rest of the session."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import boto3
import pytest
import requests

from local.stack import ROOT


def run(stack, *args):
    env = {**os.environ, **stack.env, "LOCAL_STATE_DIR": str(stack.state)}
    return subprocess.run(
        [sys.executable, "-m", "local", "journal", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_client(stack):
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.env["DYNAMODB_HOST"],
        region_name="eu-west-3",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def verified(stack):
    done = run(stack, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("journal intact: ")
    return line


def refused(stack):
    done = run(stack, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout.splitlines()[0]


@pytest.fixture(scope="module")
def logged_in(stack):
    """Entries written by a real login (code, e-mailed link, session) and a logout,
    then sealed."""
    email = stack.new_aidant(first_name="Journal")
    session = stack.login(requests.Session(), email)
    assert session.post(stack.url + "/api/logout", json={}).status_code == 200
    stack.use_store()
    from shared import accounts, journal

    aidant = accounts.find_aidant_by_email(email)
    entries = journal.for_aidant(aidant.id)
    assert {"login_link_sent", "login_succeeded", "logout"} <= {e.action for e in entries}
    done = run(stack, "seal")
    assert done.returncode == 0 and done.stdout.startswith("wrote "), done.stdout + done.stderr
    verified(stack)
    return entries


def _raw(stack, entry):
    key = {"pk": {"S": entry.pk}, "sk": {"S": entry.sk}}
    return key, table_client(stack).get_item(TableName=stack.env["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]


def test_seal_then_verify_a_journal_written_by_real_logins(stack, logged_in):
    line = verified(stack)
    stack.use_store()
    from shared import seals

    listed = {e.id for s in seals.seals() for e in (*s.entries, *s.late)}
    assert {e.id for e in logged_in} <= listed
    assert "head #" in line and "sha256:" in line


def test_the_scheduled_function_answers_through_the_gateway(stack, logged_in):
    """What the cron-connector does: POST /function/journal-seal with an empty body.
    The manual seals already went past the last closed window: nothing new to seal."""
    r = requests.post(stack.url + "/function/journal-seal", data=b"", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["sealed"] == 0 and r.json()["head"] >= 1
    assert requests.post(stack.url + "/function/journal-seal", data=b"{", timeout=60).status_code == 400
    verified(stack)


def test_verify_names_an_entry_altered_after_its_seal(stack, logged_in):
    entry = next(e for e in logged_in if e.action == "login_succeeded")
    key, original = _raw(stack, entry)
    client = table_client(stack)
    client.update_item(
        TableName=stack.env["TABLE_NAME"],
        Key=key,
        UpdateExpression="SET structure_id = :s",
        ExpressionAttributeValues={":s": {"S": "une-autre-structure"}},
    )
    try:
        line = refused(stack)
        assert line.startswith(f"journal NOT intact: entry {entry.id} ({entry.at}) altered after seal #")
    finally:
        client.put_item(TableName=stack.env["TABLE_NAME"], Item=original)
    verified(stack)


def test_verify_names_an_entry_removed_after_its_seal(stack, logged_in):
    entry = next(e for e in logged_in if e.action == "logout")
    key, original = _raw(stack, entry)
    client = table_client(stack)
    client.delete_item(TableName=stack.env["TABLE_NAME"], Key=key)
    try:
        assert refused(stack).startswith(f"journal NOT intact: entry {entry.id} ({entry.at}) removed after seal #")
    finally:
        client.put_item(TableName=stack.env["TABLE_NAME"], Item=original)
    verified(stack)


def test_verify_names_an_entry_inserted_in_a_sealed_window(stack, logged_in, monkeypatch):
    stack.use_store()
    from shared import journal
    from shared.store.journal import entry_ms

    # A forged login, dated between two real entries, written straight into the table.
    monkeypatch.setattr(journal, "_now_ms", lambda: entry_ms(logged_in[-1].id) + 1)
    fake = journal.entry(journal.LOGIN_SUCCEEDED, aidant_id=logged_in[0].aidant_id)
    client = table_client(stack)
    client.put_item(TableName=stack.env["TABLE_NAME"], Item=fake.serialize())
    try:
        assert refused(stack).startswith(f"journal NOT intact: entry {fake.id} ({fake.at}) inserted after seal #")
    finally:
        client.delete_item(TableName=stack.env["TABLE_NAME"], Key={"pk": {"S": fake.pk}, "sk": {"S": fake.sk}})
    verified(stack)


def test_an_entry_committed_after_its_window_was_sealed_is_sealed_later(stack, logged_in, monkeypatch):
    stack.use_store()
    from shared import journal, seals
    from shared.store.journal import entry_ms

    assert run(stack, "seal").returncode == 0
    head = next(seals.seals(newest_first=True))
    # A request that took its time before the seal ran and committed after it.
    monkeypatch.setattr(journal, "_now_ms", lambda: head.to_ms - 200)
    late = journal.record(journal.OTP_REFUSED, reason="late_commit")
    monkeypatch.undo()
    done = run(stack, "seal")
    assert done.returncode == 0 and " 1 late;" in done.stdout, done.stdout
    newest = next(seals.seals(newest_first=True))
    assert [e.id for e in newest.late] == [late.id]
    assert entry_ms(late.id) < newest.from_ms, "listed by a seal after the one whose range holds it"
    verified(stack)


def test_concurrent_seal_runs_make_one_chain(stack, logged_in, monkeypatch):
    stack.use_store()
    from shared import journal
    from shared.seals import chain, sealing, windows

    for i in range(5):
        journal.record(journal.OTP_REFUSED, reason=f"concurrent_{i}")
    # Two runs in this process, held so that both have read the same head before
    # either writes: both try to write the same seal number.
    barrier = threading.Barrier(2, timeout=30)
    original, outcomes, lost = chain.append, [], []
    held = threading.local()

    def write_together(*args, **kwargs):
        if not getattr(held, "done", False):
            held.done = True
            barrier.wait()
        try:
            return original(*args, **kwargs)
        except chain.ChainMoved:
            lost.append(threading.current_thread().name)
            raise

    monkeypatch.setattr(chain, "append", write_together)
    until = windows.now_ms() + 1
    threads = [threading.Thread(target=lambda: outcomes.append(sealing.seal(until)), name=f"run{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    monkeypatch.undo()
    assert len(outcomes) == 2 and len(lost) == 1, "both wrote seal n: one must have been refused"
    # And two more runs as separate processes, started together.
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "local", "journal", "seal"],
            cwd=ROOT,
            env={**os.environ, **stack.env, "LOCAL_STATE_DIR": str(stack.state)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
    seals = list(chain.seals())
    assert [s.seq for s in seals] == list(range(1, len(seals) + 1))
    assert all(b.prev_hash == a.seal_hash and b.from_ms == a.to_ms for a, b in zip(seals, seals[1:]))
    listed = [e.id for s in seals for e in (*s.entries, *s.late)]
    assert len(listed) == len(set(listed)), "no entry sealed twice"
    verified(stack)
