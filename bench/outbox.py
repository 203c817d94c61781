"""``python -m bench outbox``: how fast the outbox catches up after an SMTP outage.

On its own local stack, the bench playing the cron-connector with notify's real
schedule (stack.yml, every minute, on the minute) so that it records each run's answer:

1. the SMTP sink is stopped (the outage);
2. a backlog is written through shared code as the functions write it, spread over
   the last ``--outage-minutes`` (20): ``--items`` (1 700) e-mails of mixed kinds,
   login links among them (each valid 5 minutes from its writing, so most are
   dead by now), each already tried once by its kick (one failed attempt, due again
   as notify's retry rule says), as happens during an outage;
3. the sink is restarted on the same port (SMTP is back) and, while the backlog
   drains, aidants keep logging in: a fresh login link every second whose kick goes
   through the gateway as usual, and another whose kick is lost (only a scheduled
   run can send it);
4. it waits until nothing is pending, then reads the sink's arrival times.

It reports the drain rate (e-mails per second of a run, from the runs' answers),
the time from SMTP's return to an empty backlog (which includes waiting for the
schedule's next tick), the CPU per e-mail summed over every process of the stack,
and the longest delay of a login link: for the backlog's still valid links, from
SMTP's return; for the fresh ones, from their writing. Figures, never pass/fail;
JSON in ``bench/results/outbox-<time>.json``.

    python -m bench outbox                   # ~4 minutes
    python -m bench outbox --trigger now     # a run at once on SMTP's return, as if the tick came then
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import requests

from local import launcher
from local.scheduler import scheduled_functions

from . import procs, world

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Shares of the backlog (after an outage in working hours): most e-mails tell a usager
# that a démarche was carried out in their name; login links are one in seven.
MIX = (
    ("demarche_done", 0.55),
    ("login_link", 0.15),
    ("mandate_created", 0.12),
    ("mandate_revoked", 0.08),
    ("expiry_reminder", 0.10),
)


def _options(argv):
    parser = argparse.ArgumentParser(prog="python -m bench outbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1700, help="e-mails written during the outage")
    parser.add_argument("--outage-minutes", type=float, default=20, help="how long SMTP was down")
    parser.add_argument(
        "--trigger",
        choices=["schedule", "now"],
        default="schedule",
        help="wait for the schedule's next tick (default), or run notify at once",
    )
    parser.add_argument(
        "--fresh-links",
        type=float,
        default=1.0,
        help="login links per second written while the backlog drains (each kind)",
    )
    parser.add_argument("--name", help="results file name (default outbox-<time>)")
    args = parser.parse_args(argv)
    args.name = args.name or f"outbox-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return args


def _say(text: str) -> None:
    print(f"[bench outbox {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {text}", flush=True)


# -- the SMTP sink ----------------------------------------------------------------------


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stack_sink(stack: launcher.RunningStack) -> int:
    """The process id of the sink this stack's ``local up`` started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == stack.process.pid and "local.smtp_sink" in argv:
            return int(entry.name)
    raise RuntimeError("the stack's SMTP sink was not found")


def stop_sink(stack: launcher.RunningStack) -> None:
    os.kill(_stack_sink(stack), signal.SIGTERM)
    deadline = time.time() + 10
    while _listening(stack.ports["smtp"]):
        if time.time() > deadline:
            raise RuntimeError("the SMTP sink did not stop")
        time.sleep(0.1)


def start_sink(stack: launcher.RunningStack) -> subprocess.Popen:
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.smtp_sink",
            "--port",
            str(stack.ports["smtp"]),
            "--dir",
            str(stack.state / "mail"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while not _listening(stack.ports["smtp"]):
        if time.time() > deadline or sink.poll() is not None:
            raise RuntimeError("the SMTP sink did not start")
        time.sleep(0.05)
    return sink


# -- the backlog ------------------------------------------------------------------------


class People:
    """Who the e-mails are for: a structure, an aidant, usagers, one signed mandate."""

    def __init__(self):
        from shared import accounts, crypto, mandates
        from shared.store import Structure

        tag = crypto.new_id(6).lower()
        structure = accounts.new_structure(
            f"France Services du banc {tag}", "9" * 14, "1 rue du Banc, 02200 Soissons", structure_id=f"bench-{tag}"
        )
        structure.save()
        self.structure = Structure.get(*Structure.key(structure.id))
        self.aidant, _ = accounts.create_aidant(
            f"banc-{tag}@bench.aidantsconnect.fr", "Camille", "Banc", [structure.id]
        )
        self.usagers = [
            mandates.upsert_usager(
                f"bench-out-{tag}-{i}",
                {
                    "given_name": "Usager",
                    "family_name": f"Banc{i:02d}",
                    "birthdate": "1970-01-01",
                    "email": f"usager{i}-{tag}@example.fr",
                },
            )
            for i in range(20)
        ]
        self.mandate = mandates.create(
            mandates.NewMandate(
                structure_id=structure.id,
                usager=self.usagers[0],
                demarches=["papiers", "argent", "social"],
                duration="long",
                is_remote=False,
                remote_consent=None,
                aidant_id=self.aidant.id,
                aidant_name="Camille Banc",
                text_snapshot="Mandat du banc",
            )
        )

    def item(self, kind: str, written: int):
        from shared import notifications

        usager = random.choice(self.usagers)
        if kind == "login_link":
            return notifications.login_link_item(
                self.aidant,
                f"{self._settings().issuer}/api/login/bench-not-a-token",
                written + self._settings().login_link_ttl_seconds,
            )
        if kind == "mandate_created":
            return notifications.mandate_created_item(self.mandate, usager, self.structure)
        if kind == "mandate_revoked":
            return notifications.revoked_item(self.mandate, usager, self.structure, demarches=["social"])
        if kind == "expiry_reminder":
            return notifications.expiry_reminder_item(self.aidant, [self.mandate], {self.structure.id: self.structure})
        return notifications.demarche_done_item(usager, self.structure, random.choice(["papiers", "argent"]))

    @staticmethod
    def _settings():
        from shared.config import settings

        return settings()


def _as_written_at(item, written: int, tried: bool):
    """The item as it stands after the outage: written at ``written``; its kick's
    delivery failed once (connection refused), so it is due again when notify's
    retry rule says (``notifications.retry_after``)."""
    from shared import notifications

    item.created_at = datetime.fromtimestamp(written, timezone.utc)
    if tried:
        item.attempts = 1
    due = written + notifications.retry_after(item, unreachable=True) if tried else written
    item.set_due(due)
    if tried:
        item.last_error = "ConnectionRefusedError: [Errno 111] Connection refused"
    return item


def write_backlog(people: People, count: int, outage_seconds: float) -> list:
    from shared import notifications
    from shared.store import transaction

    now = int(time.time())
    kinds = random.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
    items = []
    for kind in kinds:
        written = now - int(random.uniform(0, outage_seconds))
        items.append(_as_written_at(people.item(kind, written), written, tried=True))
    for start in range(0, count, 100):
        with transaction() as tx:
            for item in items[start : start + 100]:
                tx.save(item, condition=notifications.save_condition())
    return items


class FreshLogins(threading.Thread):
    """Aidants logging in while the backlog drains: each second a link whose kick
    goes through the gateway and one whose kick is lost."""

    def __init__(self, people: People, per_second: float):
        super().__init__(daemon=True, name="fresh-logins")
        self.people, self.pause = people, 1 / per_second if per_second > 0 else None
        self.kicked, self.lost = [], []  # (item, written at)
        self.stopping = threading.Event()

    def run(self) -> None:
        from shared import notifications
        from shared.store import transaction

        if self.pause is None:
            return
        while not self.stopping.wait(self.pause):
            for kicked in (True, False):
                item = self.people.item("login_link", int(time.time()))
                with transaction() as tx:
                    tx.save(item, condition=notifications.save_condition())
                written = time.time()
                if kicked:
                    notifications.kick(item)
                (self.kicked if kicked else self.lost).append((item, written))


# -- reading the outcome ------------------------------------------------------------------


def arrivals(mail_dir: Path) -> dict[str, float]:
    """Outbox item id -> when the sink received its first copy (epoch seconds)."""
    found: dict[str, float] = {}
    for path in sorted(mail_dir.glob("*.eml")):
        received = int(path.name.split("-", 1)[0]) / 1e9
        with path.open("rb") as f:
            for raw in f:
                if not raw.strip():
                    break
                if raw.lower().startswith(b"message-id:"):
                    value = raw.split(b":", 1)[1].strip().decode()
                    if value.startswith("<outbox-"):
                        found.setdefault(value[len("<outbox-") :].split("@")[0], received)
                    break
    return found


def copies(mail_dir: Path) -> int:
    return len(list(mail_dir.glob("*.eml")))


def _stored(items) -> list:
    """The items as the store has them now (BatchGet, 100 at a time)."""
    from shared.store import OutboxItem

    found = []
    for start in range(0, len(items), 100):
        found += OutboxItem.batch_get([OutboxItem.key(i.id) for i in items[start : start + 100]])
    return found


def _pending(items) -> int:
    return sum(1 for i in _stored(items) if i.status == "pending")


class Cron(threading.Thread):
    """What the cron-connector does with notify's schedule: an empty POST at each
    tick. Keeps each run's answer, and when it started."""

    def __init__(self, url: str, trigger_now: bool):
        super().__init__(daemon=True, name="cron")
        self.url, self.trigger_now = url, trigger_now
        self.schedule = scheduled_functions()["notify"]
        self.runs: list[dict] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        due = time.time() if self.trigger_now else self._next()
        while not self.stopping.wait(max(0.0, due - time.time())):
            started = time.time()
            try:
                answer = requests.post(self.url + "/function/notify", data=b"", timeout=90).json()
            except (requests.RequestException, ValueError) as exc:
                answer = {"error": str(exc)}
            self.runs.append({"started": started, **answer})
            due = self._next()

    def _next(self) -> float:
        return self.schedule.next_after(datetime.now(timezone.utc)).timestamp()


def measure(args) -> dict:
    state = Path(tempfile.mkdtemp(prefix="ac-bench-outbox-"))
    _say("starting the stack")
    stack = launcher.start(state, env={"LOCAL_CRON_SECONDS": "0", "EXPOSE_DIAGNOSTICS": "false"})
    own_sink, cron = None, None
    try:
        world.point_at(stack.env)
        people = People()
        mail_dir = stack.state / "mail"
        _say("SMTP down: stopping the sink")
        stop_sink(stack)
        outage = args.outage_minutes * 60
        _say(f"writing a backlog of {args.items} e-mails spread over the last {args.outage_minutes:g} minutes")
        backlog = write_backlog(people, args.items, outage)
        links = [i for i in backlog if i.template == "login_link"]
        _say("SMTP back: restarting the sink")
        before = copies(mail_dir)
        own_sink = start_sink(stack)
        restored = time.time()
        cpu_before = sum(procs.stack_cpu(stack.process.pid).values()) + procs.cpu_seconds(own_sink.pid)
        alive_links = [i for i in links if i.deliver_by > restored]
        fresh = FreshLogins(people, args.fresh_links)
        fresh.start()
        cron = Cron(stack.url, trigger_now=args.trigger == "now")
        cron.start()
        deadline = restored + 30 * 60
        while _pending(backlog) and time.time() < deadline:
            time.sleep(1)
        emptied = time.time()
        _say(f"backlog empty after {emptied - restored:.1f} s; waiting for the fresh links")
        fresh.stopping.set()
        fresh.join()
        fresh_items = [i for i, _ in fresh.kicked + fresh.lost]
        while _pending(fresh_items) and time.time() < emptied + 120:
            time.sleep(1)
        cron.stopping.set()
        cron.join(100)
        cpu = sum(procs.stack_cpu(stack.process.pid).values()) + procs.cpu_seconds(own_sink.pid) - cpu_before
        received = arrivals(mail_dir)
        total_copies = copies(mail_dir) - before
        status_of = {i.id: i.status for i in _stored(backlog)}
    finally:
        if cron is not None:
            cron.stopping.set()
        if own_sink is not None:
            own_sink.terminate()
            own_sink.wait(5)
        stack.stop()

    statuses = Counter(status_of.values())
    backlog_times = sorted(received[i.id] for i in backlog if i.id in received)
    sent = len(backlog_times)
    runs = [dict(r, started=round(r["started"] - restored, 1)) for r in cron.runs]
    sending = [r for r in runs if r.get("sent")]
    run_seconds = sum(r["seconds"] for r in sending)
    run_sent = sum(r["sent"] for r in sending)
    link_delays = [received[i.id] - restored for i in alive_links if i.id in received]

    def delays(pairs):
        return [received[i.id] - written for i, written in pairs if i.id in received]

    kicked, lost = delays(fresh.kicked), delays(fresh.lost)
    # A lost kick's link written while a run drains is found by its next look at the
    # urgent partitions; one written between runs waits for the next tick.
    windows = [(r["started"], r["started"] + r["seconds"]) for r in cron.runs if r.get("seconds")]
    lost_in_run = delays([(i, w) for i, w in fresh.lost if any(a <= w <= b - 1 for a, b in windows)])
    return {
        "items": args.items,
        "outage_minutes": args.outage_minutes,
        "trigger": args.trigger,
        "kinds": dict(Counter(i.template for i in backlog)),
        "statuses_after": dict(statuses),
        "sent": sent,
        "copies_received": total_copies,
        "seconds_restore_to_first_email": round(backlog_times[0] - restored, 1) if backlog_times else None,
        "seconds_restore_to_empty": round(backlog_times[-1] - restored, 1) if backlog_times else None,
        "runs": runs,
        "runs_sending": len(sending),
        "drain_per_second": round(run_sent / run_seconds, 1) if run_seconds else None,
        "cpu_ms_per_email": round(cpu * 1000 / total_copies, 1) if total_copies else None,
        "login_links": {
            "in_backlog": len(links),
            "still_valid_at_restore": len(alive_links),
            "expired_not_sent": sum(1 for i in links if status_of.get(i.id) == "expired" and i.id not in received),
            "valid_sent": len(link_delays),
            "max_seconds_from_restore": round(max(link_delays), 1) if link_delays else None,
            "fresh_kicked": len(fresh.kicked),
            "fresh_kicked_max_seconds": round(max(kicked), 2) if kicked else None,
            "fresh_kick_lost": len(fresh.lost),
            "fresh_kick_lost_max_seconds": round(max(lost), 2) if lost else None,
            "fresh_kick_lost_during_a_run": len(lost_in_run),
            "fresh_kick_lost_during_a_run_max_seconds": round(max(lost_in_run), 2) if lost_in_run else None,
            "fresh_not_received": len(fresh.kicked) + len(fresh.lost) - len(kicked) - len(lost),
        },
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def report(result: dict) -> str:
    links = result["login_links"]
    lines = [
        f"# outbox after a {result['outage_minutes']:g}-minute SMTP outage: {result['items']} e-mails "
        f"({', '.join(f'{k} {v}' for k, v in sorted(result['kinds'].items()))}), trigger {result['trigger']}",
        f"statuses after: {result['statuses_after']}; {result['sent']} e-mails of the backlog received, "
        f"{result['copies_received']} messages in all (with the fresh links)",
        f"SMTP back → first e-mail {result['seconds_restore_to_first_email']} s, → backlog empty "
        f"{result['seconds_restore_to_empty']} s, in {result['runs_sending']} scheduled run(s) draining "
        f"{result['drain_per_second']} e-mails/s; {result['cpu_ms_per_email']} ms of CPU per e-mail (all processes)",
        "runs: "
        + "; ".join(
            f"+{r['started']} s: {r.get('sent')} sent, {r.get('expired', 0)} expired in "
            f"{r.get('seconds')} s, more {r.get('more')}"
            for r in result["runs"]
        ),
        f"login links in the backlog: {links['in_backlog']}, still valid when SMTP came back "
        f"{links['still_valid_at_restore']}, sent {links['valid_sent']} (the last "
        f"{links['max_seconds_from_restore']} s after SMTP's return), expired unsent {links['expired_not_sent']}",
        f"fresh links during the drain: kicked {links['fresh_kicked']} (longest {links['fresh_kicked_max_seconds']} s), "
        f"kick lost {links['fresh_kick_lost']} (longest {links['fresh_kick_lost_max_seconds']} s; of those "
        f"written during a run, {links['fresh_kick_lost_during_a_run']}, longest "
        f"{links['fresh_kick_lost_during_a_run_max_seconds']} s), not received {links['fresh_not_received']}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _options(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = {
        "name": args.name,
        "started_at": datetime.now(timezone.utc).isoformat(),
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    result.update(measure(args))
    result["seconds"] = round(time.monotonic() - started, 1)
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print("\n" + report(result))
    print(f"\nwrote {path.relative_to(ROOT)} in {result['seconds']} s")
    return 0
