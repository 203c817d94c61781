"""The local gateway: what OpenFaaS's gateway and the ingress do in production.

* the public routes declared in ``stack.yml`` go to their function, with the public
  path unchanged (as the generated ingress does);
* ``/function/<name>/<path>`` and ``/async-function/<name>/<path>`` as OpenFaaS;
  ``<name>`` may be the deployed name (``otp-verify``) or the folder (``otp_verify``);
  an asynchronous invocation the function refused is retried with back-off, as the
  queue-worker does when configured to;
* everything else is the static front-end as built by ``python -m frontend.build``
  (``build/frontend/``, which ``local up`` builds first), DSFR from ``node_modules``,
  and a small mail viewer for the SMTP sink.

Each function runs in its own processes (``local.runtime``), one or more replicas,
restarted if they die. A function that crashes, hangs or dies answers a JSON
5xx for that request only.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import mimetypes
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from html import escape
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from shared import error_codes as codes
from shared import security_headers

from . import stack

log = logging.getLogger("gateway")
ROOT = stack.ROOT
FRONTEND = ROOT / "build" / "frontend"  # frontend/build.py's output, not its sources
DSFR = ROOT / "node_modules" / "@gouvfr" / "dsfr" / "dist"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}
MAX_BODY = 1024 * 1024  # the gateway's own limit; functions apply stricter ones
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")  # in a decoded path
# What the production edge adds to the front-end's answers (deploy/ingress.py): no
# page of ours may be framed, the 404 page included.
STATIC_SECURITY_HEADERS = list(security_headers.STATIC_HEADERS)
# How long the gateway waits for a function: its watchdog's exec_timeout (stack.yml,
# above the function's own budget, REQUEST_BUDGET_SECONDS) plus a margin, or this
# default. A function answers 503 before the gateway gives up on it, so a 504 here
# means a process that stopped (frozen, dying), not one that will still act.
UPSTREAM_TIMEOUT = 10
UPSTREAM_MARGIN = 2
# Asynchronous invocations the function refused (restarting: 502/503, timed out: 504,
# overloaded: 429) are tried again after these waits, as OpenFaaS's queue-worker does
# when configured to retry (``httpRetryCodes``, OpenFaaS Pro): about 30 s in all,
# long enough for a replica to be restarted.
ASYNC_RETRY_CODES = frozenset({429, 502, 503, 504})
ASYNC_RETRY_WAITS = (0.5, 1, 2, 4, 8, 15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json(status: str, code: str, description: str, extra: list | None = None):
    body = json.dumps({"error": code, "error_description": description}, ensure_ascii=False).encode()
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
    ] + (extra or [])
    return status, headers, [body]


@dataclass
class Replica:
    function: str
    folder: str
    port: int
    env: dict
    log_path: Path
    threads: int = 4
    process: subprocess.Popen | None = None
    # Told of each process started (``local up`` records them: local/processes.py).
    on_start: Callable[[str, subprocess.Popen], None] | None = None
    timeout: float = UPSTREAM_TIMEOUT  # how long the gateway waits for an answer

    def start(self) -> None:
        out = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.runtime",
                "--function",
                self.folder,
                "--port",
                str(self.port),
                "--threads",
                str(self.threads),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        if self.on_start is not None:
            self.on_start(self.function, self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.function} exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.function} did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Pool:
    """The replicas of one function, used round-robin."""

    name: str
    replicas: list[Replica]
    _cycle: itertools.cycle = field(init=False)

    def __post_init__(self):
        self._cycle = itertools.cycle(self.replicas)

    def pick(self) -> Replica:
        return next(self._cycle)


class Gateway:
    def __init__(
        self,
        env: dict,
        log_dir: Path,
        mail_dir: Path,
        workers: dict[str, int] | None = None,
        threads: int = 4,
        on_start: Callable[[str, subprocess.Popen], None] | None = None,
        profile: str = "production",
        frontend: Path = FRONTEND,
    ):
        """``profile``: whose stack to run (local/stack.py: the training sandbox adds
        its own functions); ``frontend``: the built front-end it serves."""
        self.env = env
        self.log_dir = log_dir
        self.mail_dir = mail_dir
        self.frontend = frontend
        self.functions = stack.functions(profile=profile)
        self.routes = stack.routes(profile=profile)
        # Compiled once here: ``Route.regex`` builds its pattern at every access, and
        # every request tries the routes in turn.
        self._matchers = [(route, route.regex) for route in self.routes]
        self.pools: dict[str, Pool] = {}
        self.aliases: dict[str, str] = {}
        self._local = threading.local()
        self._stopping = threading.Event()
        self._async_queue: queue.Queue = queue.Queue()
        self.mounts: dict[str, object] = {}
        for name, fn in self.functions.items():
            count = (workers or {}).get(name, (workers or {}).get(fn.folder, 1))
            fn_env = {**fn.environment, **env, "HOSTNAME": name}
            replicas = [
                Replica(name, fn.folder, free_port(), fn_env, log_dir / f"{fn.folder}.log", threads, on_start=on_start)
                for _ in range(count)
            ]
            if fn.exec_timeout_seconds:
                for replica in replicas:
                    replica.timeout = fn.exec_timeout_seconds + UPSTREAM_MARGIN
            self.pools[name] = Pool(name, replicas)
            self.aliases[name] = name
            self.aliases[fn.folder] = name

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        for pool in self.pools.values():
            for replica in pool.replicas:
                replica.start()
        for pool in self.pools.values():
            for replica in pool.replicas:
                replica.wait_ready()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="supervisor")
        self._supervisor.start()
        for i in range(4):
            threading.Thread(target=self._async_worker, daemon=True, name=f"async-{i}").start()

    def stop(self) -> None:
        self._stopping.set()
        # Ctrl-C reaches the replicas too; wait for the supervisor to have seen the
        # stop, or it could restart one of them after we terminated the others.
        supervisor = getattr(self, "_supervisor", None)
        if supervisor is not None:
            supervisor.join(5)
        for pool in self.pools.values():
            for replica in pool.replicas:
                replica.stop()

    def _supervise(self) -> None:
        """Restart dead replicas, as Kubernetes restarts a crashed container."""
        while not self._stopping.wait(0.5):
            for pool in self.pools.values():
                for replica in pool.replicas:
                    if not replica.alive() and not self._stopping.is_set():
                        log.warning(
                            "%s died (exit %s): restarting",
                            replica.function,
                            replica.process.returncode if replica.process else None,
                        )
                        replica.start()

    # -- proxying -------------------------------------------------------------------
    def _connection(self, replica: Replica) -> http.client.HTTPConnection:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(replica.port)
        if conn is None:
            conn = conns[replica.port] = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=replica.timeout)
        return conn

    def call(self, function: str, method: str, path: str, query: str, headers: list, body: bytes):
        pool = self.pools[function]
        replica = pool.pick()
        # A replica that refuses connections (dead, restarting) is skipped for another,
        # as a Kubernetes Service only routes to ready pods; one that dies holding the
        # request is not retried (the request may have had effects).
        others = [r for r in pool.replicas if r is not replica]
        target = quote(path, safe="/%:@!$&'()*+,;=-._~") + (("?" + query) if query else "")
        # As the OpenFaaS gateway does: when the request reached us, in Unix nanoseconds
        # (the function's budget counts from it); a caller's own value is replaced.
        headers = [h for h in headers if h[0].lower() not in ("x-start-time", "x-call-id")] + [
            ("X-Start-Time", str(time.time_ns())),
            ("X-Call-Id", str(uuid.uuid4())),
        ]
        attempt = 0
        while True:
            attempt += 1
            conn = self._connection(replica)
            try:
                conn.request(method, target, body=body, headers=dict(headers))
                resp = conn.getresponse()
                data = resp.read()
                conn.ac_reused = True
                out_headers = [
                    (k, v)
                    for k, v in resp.getheaders()
                    if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date")
                ]
                return f"{resp.status} {resp.reason}", out_headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                # A kept-alive connection the replica closed while idle is retried once
                # on a fresh connection; a request the replica died in is not.
                reused = getattr(conn, "ac_reused", False)
                self._local.conns.pop(replica.port, None)
                if attempt == 1 and reused:
                    continue
                log.warning("%s: connection lost: %s", function, exc)
                return _join(_json("502 Bad Gateway", codes.BAD_GATEWAY, "La fonction a été interrompue. Réessayez."))
            except ConnectionRefusedError:
                conn.close()
                self._local.conns.pop(replica.port, None)
                if others:
                    replica = others.pop(0)
                    continue
                return _join(
                    _json(
                        "503 Service Unavailable",
                        codes.TEMPORARILY_UNAVAILABLE,
                        "La fonction redémarre. Réessayez dans quelques instants.",
                        [("Retry-After", "1")],
                    )
                )
            except socket.timeout:
                conn.close()
                self._local.conns.pop(replica.port, None)
                return _join(
                    _json("504 Gateway Timeout", codes.GATEWAY_TIMEOUT, "La fonction n'a pas répondu à temps.")
                )

    def _async_worker(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._async_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            attempt, (function, method, path, query, headers, body) = job
            status, _, _ = self.call(function, method, path, query, headers, body)
            code = int(status.split()[0])
            if code in ASYNC_RETRY_CODES and attempt < len(ASYNC_RETRY_WAITS):
                # As the queue-worker does with httpRetryCodes: the function was
                # restarting or overloaded, so the invocation is tried again later
                # (a timer: the workers keep serving other invocations meanwhile).
                wait = ASYNC_RETRY_WAITS[attempt]
                log.warning("async %s %s -> %s: retry %d in %.1f s", function, path, status, attempt + 1, wait)
                timer = threading.Timer(wait, self._async_queue.put, args=((attempt + 1, job[1]),))
                timer.daemon = True
                timer.start()
                continue
            log.info("async %s %s -> %s", function, path, status)

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        status, headers, body = self.dispatch(environ)
        if body is None:
            body = b""
        if isinstance(body, list):
            body = b"".join(body)
        headers = [h for h in headers if h[0].lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body] if environ["REQUEST_METHOD"] != "HEAD" else [b""]

    def dispatch(self, environ):
        path = environ.get("PATH_INFO", "/") or "/"
        method = environ["REQUEST_METHOD"]
        if CONTROL_CHARACTER.search(path):
            # The python3-http template's Flask route never matches one: the function would
            # answer Flask's HTML 404 page. Refused here, as the edge does (deploy/ingress.py).
            return _join(_json("404 Not Found", codes.NOT_FOUND, "Adresse inconnue."))
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return self._call_wsgi(app, environ)
        if path.startswith("/function/") or path.startswith("/async-function/"):
            kind, _, rest = path[1:].partition("/")
            name, _, sub = rest.partition("/")
            function = self.aliases.get(name)
            if function is None:
                return _join(_json("404 Not Found", codes.NOT_FOUND, f"Fonction inconnue : {name}"))
            return self._forward(environ, function, "/" + sub, asynchronous=kind == "async-function")
        for route, regex in self._matchers:
            if regex.match(path):
                if method not in route.methods and not (method == "HEAD" and "GET" in route.methods):
                    continue
                return self._forward(environ, route.function, path)
        if any(regex.match(path) for _, regex in self._matchers):
            return _join(_json("405 Method Not Allowed", codes.METHOD_NOT_ALLOWED, "Méthode non autorisée."))
        if path.startswith("/_local/mail"):
            return mail_viewer(self.mail_dir, path)
        if path == "/openapi.yaml" and method in ("GET", "HEAD"):
            # The description of every public route (tests/integration/test_openapi.py).
            return (
                "200 OK",
                [("Content-Type", "application/yaml; charset=utf-8"), ("Cache-Control", "no-cache")],
                (ROOT / "openapi.yaml").read_bytes(),
            )
        if method not in ("GET", "HEAD") or path.startswith("/api/"):
            # The API answers JSON, also for what it does not have (a sandbox route
            # in production, say): the front-end's api() reads the error from it.
            return _join(_json("404 Not Found", codes.NOT_FOUND, "Cette adresse n'existe pas."))
        return static_file(path, self.frontend)

    def _read_body(self, environ) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return None
        return environ["wsgi.input"].read(length) if length else b""

    def _forward(self, environ, function: str, path: str, asynchronous: bool = False):
        body = self._read_body(environ)
        if body is None:
            return _join(_json("413 Payload Too Large", codes.PAYLOAD_TOO_LARGE, "La requête est trop volumineuse."))
        headers = [
            (k[5:].replace("_", "-").title(), v)
            for k, v in environ.items()
            if k.startswith("HTTP_") and k[5:].lower().replace("_", "-") not in HOP_BY_HOP
        ]
        if environ.get("CONTENT_TYPE"):
            headers.append(("Content-Type", environ["CONTENT_TYPE"]))
        headers.append(("X-Forwarded-For", environ.get("REMOTE_ADDR", "")))
        query = environ.get("QUERY_STRING", "")
        if asynchronous:
            self._async_queue.put((0, (function, environ["REQUEST_METHOD"], path, query, headers, body)))
            return "202 Accepted", [("Content-Type", "text/plain")], b""
        status, out_headers, data = self.call(function, environ["REQUEST_METHOD"], path, query, headers, body)
        return status, out_headers, data

    @staticmethod
    def _call_wsgi(app, environ):
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], list(captured["headers"]), body


def _join(triple):
    status, headers, chunks = triple
    return status, headers, b"".join(chunks)


# -- static files -------------------------------------------------------------------


def _safe_join(base: Path, relative: str) -> Path | None:
    """Resolve inside ``base`` or refuse: ``..``, encoded or not, never escapes."""
    candidate = (base / relative.lstrip("/")).resolve()
    try:
        candidate.relative_to(base.resolve())
    except ValueError:
        return None
    return candidate


def static_file(path: str, frontend: Path = FRONTEND):
    if "\x00" in path:
        return _join(_json("400 Bad Request", codes.INVALID_REQUEST, "Chemin invalide."))
    if path.startswith("/dsfr/"):
        base, relative = DSFR, path[len("/dsfr/") :]
    else:
        base, relative = frontend, path
    target = _safe_join(base, relative)
    if target is None:
        return _join(_json("404 Not Found", codes.NOT_FOUND, "Cette adresse n'existe pas."))
    if target.is_dir():
        if not path.endswith("/"):
            return "301 Moved Permanently", [("Location", path + "/")] + STATIC_SECURITY_HEADERS, b""
        target = target / "index.html"
    if not target.is_file():
        page = frontend / "404.html"
        body = page.read_bytes() if page.is_file() else b"Page introuvable"
        return "404 Not Found", [("Content-Type", "text/html; charset=utf-8")] + STATIC_SECURITY_HEADERS, body
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    cache = "public, max-age=86400" if path.startswith("/dsfr/") else "no-cache"
    headers = [("Content-Type", ctype), ("Cache-Control", cache)] + STATIC_SECURITY_HEADERS
    return "200 OK", headers, target.read_bytes()


# -- the SMTP sink's mailbox, readable in a browser ------------------------------


def mail_viewer(mail_dir: Path, path: str):
    files = sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True) if mail_dir.exists() else []
    name = path[len("/_local/mail") :].strip("/")
    if name:
        target = _safe_join(mail_dir, name)
        if target is None or not target.is_file():
            return "404 Not Found", [("Content-Type", "text/plain; charset=utf-8")], "Message introuvable".encode()
        message = BytesParser(policy=policy.default).parsebytes(target.read_bytes())
        part = message.get_body(("html", "plain"))
        content = part.get_content() if part else ""
        if part is not None and part.get_content_type() == "text/plain":
            content = f"<pre>{escape(content)}</pre>"
        head = "".join(
            f"<dt>{h}</dt><dd>{escape(str(message[h] or ''))}</dd>" for h in ("From", "To", "Subject", "Date")
        )
        page = (
            f"<!doctype html><html lang='fr'><meta charset='utf-8'><title>{escape(str(message['Subject']))}</title>"
            f"<p><a href='/_local/mail/'>← Tous les messages</a></p><dl>{head}</dl><hr>{content}</html>"
        )
        return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()
    rows = []
    for f in files[:200]:
        message = BytesParser(policy=policy.default).parsebytes(f.read_bytes(), headersonly=True)
        rows.append(
            f"<tr><td>{escape(str(message['Date'] or ''))}</td><td>{escape(str(message['To'] or ''))}</td>"
            f"<td><a href='/_local/mail/{quote(f.name)}'>{escape(str(message['Subject'] or '(sans objet)'))}</a></td></tr>"
        )
    page = (
        "<!doctype html><html lang='fr'><meta charset='utf-8'><title>Boîte mail locale</title>"
        "<h1>Boîte mail locale (SMTP 127.0.0.1)</h1><table><tr><th>Date</th><th>À</th><th>Objet</th></tr>"
        + "".join(rows)
        + "</table></html>"
    )
    return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()
