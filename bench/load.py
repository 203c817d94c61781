"""Load phases: N client threads for a bounded time (and count), with the stack's
CPU read from /proc before and after."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import procs
from .flow import AUTHORIZE, DISCOVERY, JWKS, TOKEN, TXN_GET, TXN_POST, USERINFO, FlowClient, StepFailed
from .stats import Recorder
from .world import BenchWorld

MAX_REQUESTS = 200_000  # a phase never sends more than this, whatever its duration


def _group(name: str) -> str:
    """Replicas of one function are summed: ``fn:oidc_token:123`` → ``fn:oidc_token``."""
    return name.rsplit(":", 1)[0] if name.startswith("fn:") else name


def cpu_by_process(root_pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, seconds in procs.stack_cpu(root_pid).items():
        out[_group(name)] = out.get(_group(name), 0.0) + seconds
    return out


def rss_by_process(root_pid: int) -> dict[str, float]:
    """The largest replica's resident MiB, per function (and per other process)."""
    out: dict[str, float] = {}
    for name, mib in procs.stack_rss(root_pid).items():
        out[_group(name)] = round(max(out.get(_group(name), 0.0), mib), 1)
    return out


ACCESS_MARKER = "aidants_connect.request:"


def log_offsets(logs: Path | None) -> dict[Path, int]:
    return {path: path.stat().st_size for path in logs.glob("*.log")} if logs and logs.is_dir() else {}


def access_lines(logs: Path | None, since: dict[Path, int]) -> list[dict]:
    """The functions' access lines (shared/http.py) written since ``since``: what each
    function served, the asynchronous ones (notify) included, which no client sees."""
    found = []
    for path, size in log_offsets(logs).items():
        with open(path, "rb") as f:
            f.seek(since.get(path, 0))
            text = f.read(max(0, size - since.get(path, 0))).decode(errors="replace")
        for line in text.splitlines():
            if ACCESS_MARKER in line:
                try:
                    found.append(json.loads(line.split(ACCESS_MARKER, 1)[1]))
                except ValueError:
                    continue
    return found


def server_summary(lines: list[dict], units: int) -> dict:
    """Per function: requests, DynamoDB calls and capacity units, per unit of work."""
    out: dict[str, dict] = {}
    for line in lines:
        entry = out.setdefault(
            line.get("function") or "?",
            {"requests": 0, "store_calls": 0, "read_units": 0.0, "write_units": 0.0, "unmeasured_calls": 0},
        )
        entry["requests"] += 1
        entry["store_calls"] += line.get("store_calls") or 0
        entry["read_units"] += line.get("read_units") or 0
        entry["write_units"] += line.get("write_units") or 0
        entry["unmeasured_calls"] += line.get("unmeasured_calls") or 0
    for entry in out.values():
        for key in ("requests", "store_calls", "read_units", "write_units"):
            entry[f"{key}_per_unit"] = round(entry[key] / units, 3) if units else None
        entry["read_units"] = round(entry["read_units"], 2)
        entry["write_units"] = round(entry["write_units"], 2)
    return dict(sorted(out.items()))


@dataclass
class Phase:
    name: str
    clients: int
    wall_seconds: float
    units: int  # complete flows, or requests for a single endpoint
    recorder: Recorder
    cpu_seconds: dict[str, float]
    load_before: tuple
    load_after: tuple
    extra: dict = field(default_factory=dict)
    server: list[dict] = field(default_factory=list)  # the functions' access lines
    rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_seconds.values())

    def as_json(self) -> dict:
        per_unit = (
            {k: round(v * 1000 / self.units, 2) for k, v in sorted(self.cpu_seconds.items()) if v > 0}
            if self.units
            else {}
        )
        cpu_ms = round(self.cpu_total * 1000 / self.units, 2) if self.units else None
        return {
            "phase": self.name,
            "clients": self.clients,
            "wall_seconds": round(self.wall_seconds, 2),
            "units": self.units,
            "units_per_second": round(self.units / self.wall_seconds, 2) if self.wall_seconds else 0,
            "cpu_ms_per_unit": cpu_ms,
            "cpu_ms_per_unit_by_process": per_unit,
            "units_per_cpu_second": round(1000 / cpu_ms, 2) if cpu_ms else None,
            "errors": sum(self.recorder.errors.values()),
            "endpoints": self.recorder.summary(self.wall_seconds),
            "loadavg_before": [round(x, 2) for x in self.load_before],
            "loadavg_after": [round(x, 2) for x in self.load_after],
            "server": server_summary(self.server, self.units),
            "rss_mb_by_process": self.rss_mb,
            **self.extra,
        }


def _run_threads(
    name: str,
    root_pid: int,
    clients: list[FlowClient],
    work,
    duration: float,
    recorder: Recorder,
    logs: Path | None = None,
) -> Phase:
    """Each client calls ``work(client)`` in a loop for ``duration``: True counts one
    unit done, False stops that client, anything else goes on. Closes the clients."""
    stop_at = time.monotonic() + duration
    lock = threading.Lock()
    sent, units = [0], [0]

    def loop(client: FlowClient):
        while time.monotonic() < stop_at:
            with lock:
                if sent[0] >= MAX_REQUESTS:
                    return
                sent[0] += 1
            outcome = work(client)
            if outcome is False:
                return
            if outcome is True:
                with lock:
                    units[0] += 1

    for client in clients:
        client.recorder = recorder
    load_before = os.getloadavg()
    offsets = log_offsets(logs)
    cpu_before = cpu_by_process(root_pid)
    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(duration + 60)
    finally:
        for c in clients:
            c.close()
    wall = time.monotonic() - started
    cpu_after = cpu_by_process(root_pid)
    cpu = {k: max(0.0, v - cpu_before.get(k, 0.0)) for k, v in cpu_after.items()}
    load_after = os.getloadavg()
    rss = rss_by_process(root_pid)
    if logs is not None:
        time.sleep(1)  # the last asynchronous invocations (notify) finish and log
    return Phase(
        name,
        len(clients),
        wall,
        units[0],
        recorder,
        cpu,
        load_before,
        load_after,
        server=access_lines(logs, offsets),
        rss_mb=rss,
    )


def flows(
    name: str, base: str, root_pid: int, world: BenchWorld, clients: int, duration: float, logs: Path | None = None
) -> Phase:
    """N clients each running the whole flow in a loop. ``logs``: the stack's log folder,
    to count what each function served (its access lines)."""
    recorder = Recorder()
    pool = [FlowClient(base, world, recorder, i) for i in range(clients)]
    return _run_threads(name, root_pid, pool, lambda client: client.flow() or None, duration, recorder, logs)


# -- each endpoint alone -----------------------------------------------------------------


def _prepare(pool: list[FlowClient], make, seconds: float, per_client: int) -> list[queue.Queue]:
    """Inputs for single-use steps (transactions, codes), made before the timed part."""
    queues = [queue.Queue() for _ in pool]
    stop_at = time.monotonic() + seconds

    def fill(i):
        client = pool[i]
        client.recorder = Recorder()
        while time.monotonic() < stop_at and queues[i].qsize() < per_client:
            try:
                queues[i].put(make(client))
            except StepFailed:
                pass

    threads = [threading.Thread(target=fill, args=(i,), daemon=True) for i in range(len(pool))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return queues


def endpoint(step: str, base: str, root_pid: int, world: BenchWorld, clients: int, duration: float) -> Phase:
    recorder = Recorder()
    pool = [FlowClient(base, world, recorder, i) for i in range(clients)]
    inputs: dict[int, object] = {}
    queues = None
    per_client = max(50, int(duration * 60 / max(1, clients)))
    if step == TXN_GET:
        for c in pool:
            c.recorder = Recorder()
            inputs[id(c)] = c.authorize()[0]
    elif step == USERINFO:
        for c in pool:
            c.recorder = Recorder()
            txn, verifier = c.authorize()
            inputs[id(c)] = c.token(c.choose(txn), verifier)
    elif step == TXN_POST:
        queues = _prepare(pool, lambda c: c.authorize()[0], duration, per_client)
    elif step == TOKEN:
        # Codes live 60 s: made just before, redeemed at once.
        def make_code(c):
            txn, verifier = c.authorize()
            return c.choose(txn), verifier

        queues = _prepare(pool, make_code, min(duration, 25), per_client)
    by_client = {id(c): (queues[i] if queues else None) for i, c in enumerate(pool)}

    def work(client):
        try:
            if step == AUTHORIZE:
                client.authorize()
            elif step == TXN_GET:
                client.offer(inputs[id(client)])
            elif step == TXN_POST:
                client.choose(by_client[id(client)].get_nowait())
            elif step == TOKEN:
                client.token(*by_client[id(client)].get_nowait())
            elif step == USERINFO:
                client.userinfo(inputs[id(client)])
            elif step == DISCOVERY:
                client.discovery()
            elif step == JWKS:
                client.jwks()
        except queue.Empty:
            return False
        except StepFailed:
            pass
        return True

    return _run_threads(step, root_pid, pool, work, duration, recorder)
