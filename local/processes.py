"""The processes ``local up`` starts: kept running, and accounted for after a crash.

* ``lock`` holds ``up.lock`` (``flock``) for as long as ``local up`` lives: the kernel
  releases it when the process dies, however it dies, so a second ``local up`` on the
  same folder knows whether the first still runs (a pid file outlives a SIGKILL);
* ``Registry`` writes each child's pid, start time and command line to
  ``processes.json`` as it starts. ``local up`` killed with SIGKILL cannot stop its
  children; the next one finds them there, checks in ``/proc`` that each pid is
  still the very process it recorded (same start time, same command line: a pid is
  reused), and stops them, instead of meeting them on its ports;
* ``Service`` and ``Supervisor`` restart DynamoDB Local and the SMTP sink when they
  die, as the gateway restarts function replicas (and Kubernetes a container), and
  run a check (the table exists) every few seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

# -- /proc ----------------------------------------------------------------------------------


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), None once it is gone. With the
    pid, it names one process: pids are reused, (pid, start time) is not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])


def ended(pid: int) -> bool:
    """Gone, or a zombie (ended, waiting for a parent to read its status). A zombie
    leader with threads still running has not ended: a JVM's first thread may exit
    before the others, which still hold its sockets."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X") and len(os.listdir(f"/proc/{pid}/task")) <= 1
    except (OSError, IndexError):
        return True


def argv_of(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


@dataclass
class Recorded:
    pid: int
    start: int
    argv: list[str]
    role: str

    def still_ours(self) -> bool:
        if start_time(self.pid) != self.start or ended(self.pid):
            return False
        # The command line too, in case; empty when the first thread of a process
        # still running has exited (its start time already told it apart).
        return argv_of(self.pid) in (self.argv, [])


# -- the lock -------------------------------------------------------------------------------


class AlreadyRunning(RuntimeError):
    def __init__(self, pid: int | None):
        super().__init__(pid)
        self.pid = pid


def lock(state: Path):
    """Hold ``state/up.lock`` until the returned file is closed or this process ends."""
    handle = open(state / "up.lock", "a+")  # not inherited by children (PEP 446)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        try:
            pid = int((state / "up.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        raise AlreadyRunning(pid) from None
    (state / "up.pid").write_text(str(os.getpid()))
    return handle


# -- what a local up started ------------------------------------------------------------------


class Registry:
    """``processes.json``: the children of this ``local up`` still running."""

    def __init__(self, path: Path):
        self.path = path
        self._children: dict[int, tuple[subprocess.Popen, Recorded]] = {}
        self._lock = threading.Lock()

    def add(self, role: str, process: subprocess.Popen) -> None:
        record = Recorded(process.pid, start_time(process.pid) or 0, [str(a) for a in process.args], role)
        with self._lock:
            self._children[process.pid] = (process, record)
            self._write()

    def _write(self) -> None:
        for pid in [pid for pid, (process, _) in self._children.items() if process.poll() is not None]:
            del self._children[pid]
        data = {"owner": os.getpid(), "children": [asdict(r) for _, r in self._children.values()]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)  # a reader never sees half a list

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def leftovers(path: Path) -> tuple[int | None, list[Recorded]]:
    """The recorded children of an earlier ``local up`` that are still running, and
    its pid. Call it holding the lock: then that ``local up`` has ended."""
    try:
        data = json.loads(path.read_text())
        records = [Recorded(**child) for child in data["children"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None, []
    return data.get("owner"), [r for r in records if r.still_ours()]


def stop(records: Iterable[Recorded], timeout: float = 15) -> None:
    """SIGTERM (DynamoDB Local writes what it acknowledged), then SIGKILL after
    ``timeout``. Each pid is checked again just before each signal."""
    records = list(records)
    _signal(records, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(r.still_ours() for r in records):
        time.sleep(0.1)
    _signal(records, signal.SIGKILL)


def _signal(records: list[Recorded], sig: int) -> None:
    for record in records:
        if record.still_ours():
            try:
                os.kill(record.pid, sig)
            except ProcessLookupError:  # it ended between the check and the signal
                pass


def describe(records: list[Recorded]) -> str:
    """``DynamoDB Local, the SMTP sink, 11 function processes``."""
    others = [r.role for r in records if not r.role.startswith("function ")]
    functions = len(records) - len(others)
    return ", ".join(others + ([f"{functions} function process{'es' if functions > 1 else ''}"] if functions else []))


# -- ports ----------------------------------------------------------------------------------


def port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def holder_of(port: int) -> str | None:
    """``pid (command line)`` of the process listening on ``port``, when it is one of
    ours to see (``/proc/<pid>/fd`` of this user's processes)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                argv = " ".join(" ".join(argv_of(int(proc.name)) or []).split())
                return f"pid {proc.name} ({argv[:120]})"
        except OSError:
            continue
    return None


# -- supervision ------------------------------------------------------------------------------


class Service:
    """A child ``local up`` keeps running: ``spawn`` starts it, it is ready when it
    accepts connections on ``port``; ``after_start`` runs after each restart."""

    def __init__(
        self,
        name: str,
        spawn: Callable[[], subprocess.Popen],
        port: int,
        ready_timeout: float,
        after_restart: Callable[[], None] | None = None,
    ):
        self.name, self.spawn, self.port, self.ready_timeout = name, spawn, port, ready_timeout
        self.after_restart = after_restart
        self.process: subprocess.Popen | None = None

    def start(self, registry: Registry, cancel: threading.Event | None = None) -> None:
        self.process = self.spawn()
        registry.add(self.name, self.process)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.process.poll() is not None:
                raise ServiceFailed(f"{self.name} exited (status {self.process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{self.name} did not listen on port {self.port} within {self.ready_timeout:.0f}s")
            if cancel is None:
                time.sleep(0.1)
            elif cancel.wait(0.1):
                raise ServiceFailed(f"{self.name}: start cancelled")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class ServiceFailed(RuntimeError):
    pass


def _say(message: str) -> None:
    print(f"[local up {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Restarts dead services (checked every ``interval`` seconds), with a back-off
    when a restart fails (a port taken meanwhile: retried, never a busy loop), and
    runs ``check`` every ``check_interval`` seconds."""

    def __init__(
        self,
        registry: Registry,
        services: list[Service],
        check: Callable[[], None] | None = None,
        interval: float = 0.25,
        check_interval: float = 2.0,
    ):
        self.registry, self.services, self.check = registry, services, check
        self.interval, self.check_interval = interval, check_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="services")
        self._retry_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Before the services are stopped: Ctrl-C reaches them too, and none must be
        restarted once the others are going."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(15)

    def _run(self) -> None:
        next_check = time.monotonic() + self.check_interval
        while not self._stopping.wait(self.interval):
            for service in self.services:
                if not service.alive() and time.monotonic() >= self._retry_at.get(service.name, 0):
                    self._restart(service)
            if self.check is not None and time.monotonic() >= next_check and not self._stopping.is_set():
                try:
                    self.check()
                except Exception:  # the store restarting, or hung: its own restart says so
                    pass
                next_check = time.monotonic() + self.check_interval

    def _restart(self, service: Service) -> None:
        if self._stopping.is_set():
            return
        status = service.process.returncode if service.process is not None else None
        _say(f"{service.name} exited ({_status(status)}): restarting it")
        began = time.monotonic()
        try:
            service.start(self.registry, cancel=self._stopping)
        except (RuntimeError, OSError) as exc:  # ServiceFailed, or it could not even be spawned
            if self._stopping.is_set():
                return
            delay = min(self._delay.get(service.name, 0.5) * 2, 10)
            self._delay[service.name] = delay
            self._retry_at[service.name] = time.monotonic() + delay
            _say(f"{service.name} did not restart ({exc}); next try in {delay:.0f}s")
            return
        self._delay.pop(service.name, None)
        self._retry_at.pop(service.name, None)
        _say(f"{service.name} is back ({time.monotonic() - began:.1f}s)")
        if service.after_restart is not None:
            try:
                service.after_restart()
            except Exception as exc:  # the periodic check tries again
                _say(f"after restarting {service.name}: {type(exc).__name__}: {exc}")


def _status(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"
