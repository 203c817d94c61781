"""Cold start of each function: the time from starting its process (as the local
gateway starts a replica, ``local.runtime``) to its first answer, and the CPU that
took. Part of ``python -m bench`` (``--only coldstart``).

Each function is started with the running stack's environment, on a port of its
own, and sent one request as soon as it listens: for the identity provider, the
first request a real caller would send, which builds what that function builds on
first use (the store's client, the signing keys, the discovery document); for the
other functions a path they do not serve (404): their imports and the template's
app, no more.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from . import procs

ROOT = Path(__file__).resolve().parent.parent
_UNKNOWN_CLIENT = "coldstart-unknown-client"
FIRST_REQUEST = {
    "oidc_metadata": ("GET", "/.well-known/openid-configuration", {}),
    # Unknown client: one GetItem (the store's client is built), an error page.
    "oidc_authorize": ("GET", f"/oidc/authorize?client_id={_UNKNOWN_CLIENT}&response_type=code", {}),
    "oidc_token": (
        "POST",
        "/oidc/token",
        {
            "headers": {
                "Authorization": "Basic " + base64.b64encode(f"{_UNKNOWN_CLIENT}:x".encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            "data": "grant_type=authorization_code&code=x",
        },
    ),
    # A named token nobody holds: the token and the autorisation in one BatchGet.
    "oidc_userinfo": ("GET", "/oidc/userinfo", {"headers": {"Authorization": "Bearer m.papiers." + "x" * 43}}),
}
DEFAULT_REQUEST = ("GET", "/__coldstart", {})


def _first_answer(url: str, method: str, kwargs: dict, process: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return requests.request(method, url, timeout=30, **kwargs)
        except requests.ConnectionError:
            time.sleep(0.002)
    raise RuntimeError(f"no answer from {url}")


def measure(env: dict, rounds: int = 3, only: tuple[str, ...] | None = None) -> dict[str, dict]:
    from local import stack
    from local.launcher import free_port

    out = {}
    for name, fn in stack.functions().items():
        if only and fn.folder not in only:
            continue
        method, path, kwargs = FIRST_REQUEST.get(fn.folder, DEFAULT_REQUEST)
        times, cpu, status = [], [], None
        for _ in range(rounds):
            port = free_port()
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "local.runtime", "--function", fn.folder, "--port", str(port)],
                cwd=ROOT,
                env={**fn.environment, **env, "HOSTNAME": name},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                answer = _first_answer(f"http://127.0.0.1:{port}{path}", method, kwargs, process)
                times.append((time.monotonic() - started) * 1000)
                cpu.append(procs.cpu_seconds(process.pid) * 1000)
                status = answer.status_code
            finally:
                process.terminate()
                process.wait(10)
        out[fn.folder] = {
            "request": f"{method} {path.split('?')[0]}",
            "status": status,
            "ms_to_first_answer": round(statistics.median(times)),
            "cpu_ms": round(statistics.median(cpu)),
            "runs_ms": [round(t) for t in times],
            "loadavg": round(os.getloadavg()[0], 2),
        }
    return out
