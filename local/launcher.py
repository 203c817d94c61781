"""Start a whole local stack in a child process and wait until it serves.

Used by the test fixtures and the benchmarks: the same ``python -m local up`` a person
runs, on free ports and its own state folder, so several can run side by side.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .stack import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningStack:
    url: str
    state: Path
    env: dict  # the environment the functions run with (store host, secrets…)
    process: subprocess.Popen
    ports: dict

    def seed(self) -> dict:
        # This stack's own store, whatever another stack put in this process's environment.
        env = {**os.environ, **self.env, "LOCAL_STATE_DIR": str(self.state)}
        return json.loads(subprocess.check_output([sys.executable, "-m", "local", "seed", "--json"], cwd=ROOT, env=env))

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def up_command(ports: dict, extra_args: Sequence[str] = ()) -> list[str]:
    """``python -m local up`` on these ports."""
    return [
        sys.executable,
        "-m",
        "local",
        "up",
        "--gateway-port",
        str(ports["gateway"]),
        "--dynamodb-port",
        str(ports["dynamodb"]),
        "--smtp-port",
        str(ports["smtp"]),
        *extra_args,
    ]


def start(
    state: Path,
    extra_args: list[str] = (),
    env: dict | None = None,
    timeout: float = 120,
    ports: dict | None = None,
    in_memory: bool = True,
) -> RunningStack:
    """``in_memory``: DynamoDB Local keeps its data in memory (the tests' and the
    benchmarks' stacks: faster, and thrown away anyway) unless ``extra_args`` give
    ``--store-data``; ``make up`` keeps it on disk. ``ports``: the ports of an
    earlier stack, to start again on the same state folder."""
    state.mkdir(parents=True, exist_ok=True)
    ports = dict(ports) if ports else {"gateway": free_port(), "dynamodb": free_port(), "smtp": free_port()}
    if in_memory and "--store-data" not in extra_args and "--store-url" not in extra_args:
        extra_args = ["--in-memory", *extra_args]
    (state / "ready").unlink(missing_ok=True)  # left by a stack that was killed
    child_env = {**os.environ, **(env or {}), "LOCAL_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1"}
    log = open(state / "up.out", "wb")
    process = subprocess.Popen(
        up_command(ports, extra_args),
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + timeout
    while not (state / "ready").exists():
        if process.poll() is not None or time.time() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError("local stack did not start:\n" + (state / "up.out").read_text()[-5000:])
        time.sleep(0.2)
    info = json.loads((state / "stack.json").read_text())
    return RunningStack(info["url"], state, info["env"], process, ports)
