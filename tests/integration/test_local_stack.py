"""The local stack survives its own crashes (``python -m local up``, ``make up``).

* DynamoDB Local and the SMTP sink are restarted when they die, as the function
  replicas are; DynamoDB Local keeps its data on disk (``make up``'s default), and a
  missing table is created again (with the demo data);
* ``local up`` killed with SIGKILL leaves its children running: the next ``local up``
  on the same folder stops them (they are recorded, with their start time and command
  line, in ``processes.json``) and the data written before the kill is still there;
  a port held by a program it did not start is refused with a message, not adopted;
* a Ctrl-C at any point of ``seed`` leaves every demo card with its journal entry,
  or neither.

Everything but the seed test runs on this module's own stack, on disk, because it
kills its processes; the seed test writes to tables of its own in the session's
stack's DynamoDB Local.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from bench.procs import tree
from tests.conftest import Stack, _reset_shared_caches

ROOT = Path(__file__).resolve().parents[2]
BACK_WITHIN = 60  # seconds: a restart on a busy 2-core machine, JVM included


def _children(pid: int, pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot), or None once the pid is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[19])


def _running(pid: int, start: int) -> bool:
    """A zombie has ended, unless it is a leader whose other threads still run."""
    stat = _stat(pid)
    if stat is None or stat[1] != start:
        return False
    try:
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat[0] not in ("Z", "X") or threads > 1


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait(condition, what: str, timeout: float = BACK_WITHIN) -> float:
    """Seconds until ``condition()`` is true; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout}s"
        time.sleep(0.1)
    return time.monotonic() - started


def _store_answers(url: str) -> bool:
    """A login attempt is counted in the store before its code is checked: 401 when
    the store answers, 503 when it does not (a fresh e-mail each time, never locked)."""
    r = requests.post(
        url + "/api/login", timeout=30, json={"email": f"probe-{uuid.uuid4().hex[:10]}@example.fr", "otp": "000000"}
    )
    assert r.status_code in (401, 503), r.text
    return r.status_code == 401


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """This module's stack, on disk; a test may replace ``own.running`` (the SIGKILL
    test starts another ``local up`` on the same folder and ports)."""
    from local import launcher

    saved_env = dict(os.environ)
    state = tmp_path_factory.mktemp("own-stack")
    holder = SimpleNamespace(running=launcher.start(state, ["--store-data", str(state / "dynamodb")]), groups=set())
    holder.groups.add(holder.running.process.pid)
    holder.seed = holder.running.seed()
    try:
        yield holder
    finally:
        holder.running.stop()
        for group in holder.groups:  # whatever a failed test left behind
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


def _stack(own) -> Stack:
    running = own.running
    return Stack(running.url, running.state, running.env, running.process, own.seed)


# -- DynamoDB Local and the SMTP sink, restarted ------------------------------------------


def test_dynamodb_local_stopped_is_restarted_with_its_data(own):
    stack = _stack(own)
    session = stack.login(requests.Session(), stack.new_aidant(stack.new_structure()))
    assert session.get(stack.url + "/api/me").status_code == 200
    [store] = _children(stack.process.pid, "DynamoDBLocal")
    started = _stat(store)[1]
    os.kill(store, signal.SIGTERM)
    _wait(lambda: not _running(store, started), "DynamoDB Local to stop", 20)
    back = _wait(
        lambda: session.get(stack.url + "/api/me", timeout=30).status_code == 200,
        "the session written before the restart to be served again",
    )
    [restarted] = _children(stack.process.pid, "DynamoDBLocal")
    assert restarted != store
    print(f"DynamoDB Local stopped (SIGTERM): the service answered again after {back:.1f}s")


def test_dynamodb_local_killed_is_restarted(own):
    stack = _stack(own)
    assert _store_answers(stack.url)
    [store] = _children(stack.process.pid, "DynamoDBLocal")
    os.kill(store, signal.SIGKILL)
    back = _wait(lambda: _store_answers(stack.url), "the store to answer again after a SIGKILL")
    assert _children(stack.process.pid, "DynamoDBLocal") != [store]
    print(f"DynamoDB Local killed (SIGKILL): the service answered again after {back:.1f}s")


def test_a_deleted_table_is_created_again_with_the_demo_data(own):
    stack = _stack(own)
    stack.use_store()
    from shared import accounts
    from shared.store import Item

    Item.delete_table()
    back = _wait(lambda: _store_answers(stack.url), "the table to be created again")
    stack.use_store()
    assert Item.exists()
    _wait(
        lambda: accounts.find_aidant_by_email(own.seed["aidant"]["email"]) is not None,
        "the demo data to be seeded again",
        30,
    )
    print(f"table deleted: the service answered again after {back:.1f}s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_smtp_sink_killed_is_restarted_and_mail_is_delivered(own, sig):
    stack = _stack(own)
    port = int(stack.env["SMTP_PORT"])
    [sink] = _children(stack.process.pid, "local.smtp_sink")
    os.kill(sink, sig)
    back = _wait(
        lambda: _listening(port) and _children(stack.process.pid, "local.smtp_sink") not in ([], [sink]),
        "the SMTP sink to be restarted",
    )
    stack.login(requests.Session(), stack.new_aidant(stack.new_structure()))  # the link arrives by mail
    print(f"SMTP sink killed ({sig.name}): listening again after {back:.1f}s")


# -- a second local up, a port taken --------------------------------------------------------


def _up(state: Path, ports: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOCAL_STATE_DIR": str(state)}
    from local import launcher

    return subprocess.run(
        launcher.up_command(ports, ["--in-memory"]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_second_up_on_the_same_folder_says_one_is_running(own):
    from local.launcher import free_port

    second = _up(own.running.state, {"gateway": free_port(), "dynamodb": free_port(), "smtp": free_port()})
    assert second.returncode == 1, second.stderr
    assert "already running" in second.stderr and str(own.running.process.pid) in second.stderr
    assert _store_answers(own.running.url)  # and the first one is untouched


def _reset(state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local", "reset"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "LOCAL_STATE_DIR": str(state)},
        timeout=60,
    )


def test_reset_refuses_while_the_stack_runs(own):
    refused = _reset(own.running.state)
    assert refused.returncode == 1 and "already running" in refused.stderr, refused.stderr
    assert (own.running.state / "dynamodb").is_dir() and _store_answers(own.running.url)


def test_reset_wipes_the_data_and_the_mail_and_keeps_the_keys(tmp_path):
    for name in ("dynamodb/shared-local-instance.db", "mail/1.eml", "secrets/token-hmac-key", "logs/up.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    done = _reset(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "dynamodb").exists() and not (tmp_path / "mail").exists()
    assert (tmp_path / "secrets" / "token-hmac-key").exists() and (tmp_path / "logs" / "up.log").exists()


def test_up_refuses_a_port_another_program_holds(tmp_path):
    from local.launcher import free_port

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = {"gateway": free_port(), "dynamodb": taken, "smtp": free_port()}
        refused = _up(tmp_path / "state", ports)
    assert refused.returncode == 3, (refused.returncode, refused.stderr[-3000:])
    assert f"port {taken}" in refused.stderr and "DYNAMODB_PORT" in refused.stderr, refused.stderr
    assert not (tmp_path / "state" / "processes.json").exists()
    assert not _listening(ports["smtp"]) and not _listening(ports["gateway"])  # nothing was started


# -- local up killed with SIGKILL -----------------------------------------------------------------


def test_only_the_very_processes_recorded_are_stopped(tmp_path):
    """A pid is reused: a recorded pid now running something else, or the same command
    started later, is not ours to stop."""
    from local import processes

    registry = processes.Registry(tmp_path / "processes.json")
    ours, other, later = (subprocess.Popen(["sleep", "60"]) for _ in range(3))
    try:
        for process in (ours, other, later):
            registry.add("sleep", process)
        records = json.loads((tmp_path / "processes.json").read_text())
        for record in records["children"]:
            if record["pid"] == other.pid:
                record["argv"] = ["sleep", "61"]  # the pid now runs another command
            if record["pid"] == later.pid:
                record["start"] -= 1  # the same command, started at another time
        (tmp_path / "processes.json").write_text(json.dumps(records))
        owner, found = processes.leftovers(tmp_path / "processes.json")
        assert owner == os.getpid() and [r.pid for r in found] == [ours.pid]
        processes.stop(found)
        assert ours.wait(5) == -signal.SIGTERM
        assert other.poll() is None and later.poll() is None
    finally:
        for process in (ours, other, later):
            process.kill()
            process.wait()


@pytest.mark.slow
def test_up_killed_with_sigkill_leaves_no_orphans_once_the_next_up_starts(own):
    from local import launcher

    stack = _stack(own)
    structure = stack.new_structure("Structure écrite avant le SIGKILL")
    email = stack.new_aidant(structure)  # acknowledged by DynamoDB Local
    up = stack.process
    orphans = {pid: _stat(pid)[1] for pid in tree(up.pid) if pid != up.pid}
    assert len(orphans) >= 13  # DynamoDB Local, the SMTP sink, one process per function
    up.kill()
    up.wait(10)
    time.sleep(1)
    # SIGKILL does not reach the children: they outlive it (all of them but one, once
    # in a fresh-clone run, where a child ended on its own meanwhile; what matters is
    # that the next `up` stops those left).
    outlived = [pid for pid, start in orphans.items() if _running(pid, start)]
    assert len(outlived) >= len(orphans) // 2, "SIGKILL reached the children: nothing to check"

    own.running = launcher.start(
        own.running.state, ["--store-data", str(own.running.state / "dynamodb")], ports=own.running.ports
    )
    own.groups.add(own.running.process.pid)
    left = [pid for pid, start in orphans.items() if _running(pid, start)]
    assert not left, f"still running: {left}"
    out = (own.running.state / "up.out").read_text()
    assert "left running by a previous `local up`" in out, out[-3000:]
    # What was written before the kill is there: DynamoDB Local was stopped, not killed.
    again = _stack(own)
    again.use_store()
    from shared import accounts

    assert accounts.find_aidant_by_email(email) is not None
    again.login(requests.Session(), email)


# -- Ctrl-C during seed ----------------------------------------------------------------------------

SEED_DRIVER = r"""
import json, os, signal, sys
from pynamodb.connection.base import Connection
from shared import store

mode, stop_before = sys.argv[1], int(sys.argv[2])
store.create_table()
if mode == "check":
    from shared import cards
    from shared.store import Item, JournalEntry, OtpCard
    items = list(Item.scan())
    print(json.dumps({
        "cards": sorted(i.serial for i in items if isinstance(i, OtpCard)),
        "journaled": sorted(s for i in items if isinstance(i, JournalEntry) and i.action == cards.CARDS_IMPORTED
                            for s in (i.details.as_dict() if i.details else {}).get("serials", "").split(",") if s)}))
    sys.exit(0)
calls = []
dispatch = Connection.dispatch

def interrupted(self, operation, kwargs):
    calls.append([operation, [key for key in _written_keys(kwargs)]])
    if len(calls) == stop_before:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, just before this call reaches the store
    return dispatch(self, operation, kwargs)

def _written_keys(kwargs):
    for put in [kwargs] + [t.get("Put") or t.get("Update") or {} for t in kwargs.get("TransactItems", [])]:
        key = put.get("Item") or put.get("Key")
        if key and "pk" in key:
            yield key["pk"]["S"]

Connection.dispatch = interrupted
from local.__main__ import main
try:
    code = main(["seed"])
finally:
    with open(os.environ["SEED_CALLS"], "w") as out:
        json.dump(calls, out)
sys.exit(code)
"""


def _seed(stack, table: str, mode: str, stop_before: int, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.env, "TABLE_NAME": table, "SEED_CALLS": str(tmp_path / "calls.json")}
    return subprocess.run(
        [sys.executable, "-c", SEED_DRIVER, mode, str(stop_before)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cards_and_journal(stack, table: str, tmp_path: Path) -> dict:
    done = _seed(stack, table, "check", 0, tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_ctrl_c_at_any_point_of_seed_leaves_each_demo_card_with_its_journal_entry_or_neither(stack, tmp_path):
    from local import referent_demo

    stack.use_store()
    tables = []
    try:
        table = f"seed-{uuid.uuid4().hex[:8]}"
        tables.append(table)
        whole = _seed(stack, table, "seed", 0, tmp_path)
        assert whole.returncode == 0, whole.stderr
        calls = json.loads((tmp_path / "calls.json").read_text())
        card_keys = {f"CARD#{s}" for s in referent_demo.CARD_SERIALS}
        first = min(i for i, (_, keys) in enumerate(calls, start=1) if card_keys & set(keys))
        # Interrupted before each call from the first write of a card to the end of the seed.
        for stop_before in range(first, len(calls) + 1):
            table = f"seed-{uuid.uuid4().hex[:8]}"
            tables.append(table)
            cut = _seed(stack, table, "seed", stop_before, tmp_path)
            assert cut.returncode != 0 and "KeyboardInterrupt" in cut.stderr, (stop_before, cut.stderr[-2000:])
            found = _cards_and_journal(stack, table, tmp_path)
            assert found["cards"] == found["journaled"], (stop_before, found)
            # Run again, as after a Ctrl-C one does: every card once, each journaled once.
            assert _seed(stack, table, "seed", 0, tmp_path).returncode == 0
            found = _cards_and_journal(stack, table, tmp_path)
            assert found["cards"] == found["journaled"] == sorted(referent_demo.CARD_SERIALS), (stop_before, found)
    finally:
        from pynamodb.connection import Connection

        connection = Connection(host=stack.env["DYNAMODB_HOST"], region="eu-west-3")
        for table in tables:
            try:
                connection.delete_table(table)
            except Exception:  # pragma: no cover - the table may not have been created
                pass
