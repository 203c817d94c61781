"""Micro-benchmarks behind each optimisation of docs/performance.md: CPU of this
process (``time.process_time``), so other processes on a busy machine count less.

    python -m bench.micro store      # CPU of one GetItem, PutItem, Query (20 items) on the client side
    python -m bench.micro handlers   # CPU of each OIDC handler, called in-process (no HTTP, no Flask)
    python -m bench.micro gateway    # CPU of the gateway and the function per proxied request

``--root DIR`` runs the same against another checkout (e.g. ``git worktree add
/tmp/before <commit>``) to measure before/after; run them alternately, as the
machine's load moves.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit


def _store(rounds: int, count: int) -> dict:
    from local import dynamodb
    from local.launcher import free_port
    jar, port = dynamodb.find_jar(), free_port()
    args = (dynamodb.command(jar, port) if hasattr(dynamodb, "command") else  # older checkouts
            ["java", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar), "-port", str(port),
             "-sharedDb", "-inMemory"])
    process = subprocess.Popen(args, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dynamodb.wait_port(port, process, 60, "DynamoDB Local")
        os.environ.update(DYNAMODB_HOST=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                          AWS_REGION="eu-west-3", SECRET_TOKEN_HMAC_KEY=base64.b64encode(b"k" * 32).decode(),
                          SECRET_TOTP_SEAL_KEY=base64.b64encode(b"s" * 32).decode())
        from shared import journal, store
        from shared.store import JournalEntry
        store.create_table()
        first = journal.record("bench", structure_id="s1", aidant_id="a1")
        for _ in range(20):
            journal.record("bench", structure_id="s1", aidant_id="a1")
        calls = {"GetItem": lambda: JournalEntry.get(first.pk, first.sk),
                 "PutItem": lambda: journal.record("bench", structure_id="s1", aidant_id="a1"),
                 "Query (20 items)": lambda: JournalEntry.of_structure("s1", limit=20)}
        out = {}
        for _ in range(rounds):  # the last round is reported: the JIT of DynamoDB Local is warm by then
            for name, call in calls.items():
                started = time.process_time()
                for _ in range(count):
                    call()
                out[name] = round((time.process_time() - started) * 1000 / count, 3)
        return {"client CPU ms per call": out}
    finally:
        process.terminate()


class _Event:
    def __init__(self, method, path, query=None, headers=None, body=b""):
        from werkzeug.datastructures import Headers, MultiDict
        self.method, self.path, self.body = method, path, body
        self.query, self.headers = MultiDict(query or {}), Headers(headers or {})


def _handlers(count: int) -> dict:
    from local import launcher
    from local.runtime import load_handler

    from bench import world
    running = launcher.start(Path(tempfile.mkdtemp(prefix="ac-micro-")),
                             env={"LOCAL_CRON_SECONDS": "0", "OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE": "1000000"})
    try:
        world.point_at(running.env)
        w = world.build(aidants=2, usagers=30)
        root = Path(__file__).resolve().parent.parent / "functions"
        authorize, token, userinfo = (load_handler(root / name) for name in
                                      ("oidc_authorize", "oidc_token", "oidc_userinfo"))
        cookie = {"Cookie": f"ac_session={w.cookies[0]}"}
        basic = "Basic " + base64.b64encode(f"{w.client_id}:{w.client_secret}".encode()).decode()
        spent: dict[str, float] = {}

        def timed(name, handler, event):
            started = time.process_time()
            answer = handler.handle(event, None)
            spent[name] = spent.get(name, 0.0) + time.process_time() - started
            assert answer["statusCode"] in (200, 302), (name, answer)
            return answer

        def flow():
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            query = {"response_type": "code", "client_id": w.client_id, "redirect_uri": w.redirect_uri,
                     "scope": "openid profile birth email", "state": "s" * 16, "nonce": "n" * 16,
                     "acr_values": "eidas1", "code_challenge": challenge, "code_challenge_method": "S256"}
            answer = timed("GET /oidc/authorize", authorize, _Event("GET", "/oidc/authorize", query))
            txn = parse_qs(urlsplit(dict(answer["headers"])["Location"]).query)["txn"][0]
            # The session, and the cookie /oidc/authorize set for this transaction.
            browser = {"Cookie": cookie["Cookie"] + "; " + dict(answer["headers"])["Set-Cookie"].split(";")[0]}
            timed("GET /api/fi/transactions/{txn}", authorize, _Event("GET", f"/api/fi/transactions/{txn}", None, browser))
            usager, demarche = w.usagers[0]
            answer = timed("POST /api/fi/transactions/{txn}", authorize, _Event(
                "POST", f"/api/fi/transactions/{txn}", None, {**browser, "Content-Type": "application/json"},
                json.dumps({"usager": usager, "demarche": demarche}).encode()))
            code = parse_qs(urlsplit(json.loads(answer["body"])["redirect_to"]).query)["code"][0]
            answer = timed("POST /oidc/token", token, _Event(
                "POST", "/oidc/token", None, {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"},
                urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": w.redirect_uri,
                           "code_verifier": verifier}).encode()))
            access = json.loads(answer["body"])["access_token"]
            timed("GET /oidc/userinfo", userinfo, _Event("GET", "/oidc/userinfo", None, {"Authorization": "Bearer " + access}))

        for _ in range(30):
            flow()
        spent.clear()
        for _ in range(count):
            flow()
        per = {k: round(v * 1000 / count, 2) for k, v in spent.items()}
        return {"handler CPU ms per request": per, "sum per flow": round(sum(per.values()), 2)}
    finally:
        running.stop()


def _gateway(count: int) -> dict:
    import requests

    from local import launcher

    from bench.load import cpu_by_process
    running = launcher.start(Path(tempfile.mkdtemp(prefix="ac-micro-")), env={"LOCAL_CRON_SECONDS": "0"})
    try:
        session, out = requests.Session(), {}
        for label, path in (("proxied (GET /oidc/jwks)", "/oidc/jwks"),
                            ("refused at the gateway (405)", "/api/mandates/x/revoke")):
            for _ in range(100):
                session.get(running.url + path)
            before = cpu_by_process(running.process.pid)
            for _ in range(count):
                session.get(running.url + path)
            after = cpu_by_process(running.process.pid)
            out[label] = {k: round((after[k] - before.get(k, 0)) * 1000 / count, 3) for k in after
                          if after[k] - before.get(k, 0) > 0.005}
        return {"CPU ms per request by process": out}
    finally:
        running.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["store", "handlers", "gateway"])
    parser.add_argument("--root", help="another checkout to measure (default: this one)")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args(argv)
    if args.root:
        # This file, run with that checkout's shared/, local/, functions/ (and bench/world.py).
        root = str(Path(args.root).resolve())
        code = (f"import runpy, sys; sys.path.insert(0, {root!r}); "
                f"sys.argv = ['micro', {args.what!r}, '--count', '{args.count}']; "
                f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')")
        return subprocess.call([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": root})
    load = os.getloadavg()[0]
    result = {"store": lambda: _store(3, args.count), "handlers": lambda: _handlers(max(30, args.count // 2)),
              "gateway": lambda: _gateway(args.count * 3)}[args.what]()
    print(json.dumps({"what": args.what, "root": str(Path.cwd()), "loadavg": round(load, 2), **result},
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
