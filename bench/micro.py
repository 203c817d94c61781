"""Micro-benchmarks behind each optimisation of docs/performance.md: CPU of this
process (``time.process_time``), so other processes on a busy machine count less.

    python -m bench.micro store      # CPU of one GetItem, PutItem, Query (20 items) on the client side
    python -m bench.micro handlers   # CPU of each OIDC handler, called in-process (no HTTP, no Flask)
    python -m bench.micro gateway    # CPU of the gateway and the function per proxied request
    python -m bench.micro dynamodb   # CPU of DynamoDB Local (from /proc) per operation, by kind
    python -m bench.micro counters   # the token's transaction with and without the statistics' operation

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
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit


@contextmanager
def _dynamodb_local() -> Iterator[subprocess.Popen]:
    """A DynamoDB Local of its own on a free port, the store pointed at it."""
    from local import dynamodb
    from local.launcher import free_port

    jar, port = dynamodb.find_jar(), free_port()
    if hasattr(dynamodb, "command"):
        args = dynamodb.command(jar, port)
    else:  # an older checkout (--root)
        args = ["java", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
        args += ["-port", str(port), "-sharedDb", "-inMemory"]
    process = subprocess.Popen(args, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dynamodb.wait_port(port, process, 60, "DynamoDB Local")
        os.environ.update(
            DYNAMODB_HOST=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_REGION="eu-west-3",
            SECRET_TOKEN_HMAC_KEY=base64.b64encode(b"k" * 32).decode(),
            SECRET_TOTP_SEAL_KEY=base64.b64encode(b"s" * 32).decode(),
        )
        yield process
    finally:
        process.terminate()


def _store(rounds: int, count: int) -> dict:
    with _dynamodb_local():
        from shared import journal, store
        from shared.store import JournalEntry

        store.create_table()
        first = journal.record("bench", structure_id="s1", aidant_id="a1")
        for _ in range(20):
            journal.record("bench", structure_id="s1", aidant_id="a1")
        calls = {
            "GetItem": lambda: JournalEntry.get(first.pk, first.sk),
            "PutItem": lambda: journal.record("bench", structure_id="s1", aidant_id="a1"),
            "Query (20 items)": lambda: JournalEntry.of_structure("s1", limit=20),
        }
        out = {}
        for _ in range(rounds):  # the last round is reported: the JIT of DynamoDB Local is warm by then
            for name, call in calls.items():
                started = time.process_time()
                for _ in range(count):
                    call()
                out[name] = round((time.process_time() - started) * 1000 / count, 3)
        return {"client CPU ms per call": out}


def _dynamodb(rounds: int, count: int) -> dict:
    """DynamoDB Local's own CPU (its JVM, from /proc) per operation of each kind the
    identity provider sends, after warm-up rounds (its JIT): what a call costs the
    emulator, which dominates the stack's CPU per flow on this machine."""
    from bench import procs

    with _dynamodb_local() as process:
        from shared import store
        from shared.store import Item, RateCounter, Structure, Usager

        store.create_table()
        for i in range(30):
            Usager(
                *Usager.key(f"u{i}"),
                id=f"u{i}",
                fc_sub="x",
                given_name="A",
                family_name="B",
                gsi1pk="BENCH",
                gsi1sk=f"{i:03d}",
            ).save()
        Structure(*Structure.key("s"), id="s", name="S", siret="1").save()
        n = [0]

        def put():
            n[0] += 1
            Structure(*Structure.key(f"p{n[0]}"), id="p", name="S", siret="1").save()

        def transact(size):
            def run():
                n[0] += 1
                with store.transaction() as tx:
                    for k in range(size):
                        tx.save(
                            Structure(*Structure.key(f"t{n[0]}-{k}"), id="t", name="S", siret="1"),
                            condition=Structure.pk.does_not_exist(),
                        )

            return run

        def transact_check():
            n[0] += 1
            with store.transaction() as tx:
                tx.condition_check(Structure, *Structure.key("s"), condition=Structure.pk.exists())
                tx.save(
                    Structure(*Structure.key(f"c{n[0]}"), id="t", name="S", siret="1"),
                    condition=Structure.pk.does_not_exist(),
                )

        calls = {
            "GetItem": lambda: Structure.get(*Structure.key("s"), consistent_read=True),
            "BatchGetItem (4 keys)": lambda: list(
                Item.batch_get([Usager.key(f"u{i}") for i in range(4)], consistent_read=True)
            ),
            "Query (30 items, index)": lambda: list(Usager.gsi1.query("BENCH")),
            "PutItem": put,
            "UpdateItem (ADD)": lambda: RateCounter(*RateCounter.key("r")).update(actions=[RateCounter.count.add(1)]),
            "TransactWriteItems (1 put)": transact(1),
            "TransactWriteItems (2 puts)": transact(2),
            "TransactWriteItems (check + put)": transact_check,
            "TransactWriteItems (5 puts)": transact(5),
        }
        out = {}
        for _ in range(rounds):  # the last round is reported: the JIT is warm by then
            for name, call in calls.items():
                before = procs.cpu_seconds(process.pid)
                for _ in range(count):
                    call()
                out[name] = round((procs.cpu_seconds(process.pid) - before) * 1000 / count, 3)
        return {"DynamoDB Local CPU ms per call": out}


class _Event:
    def __init__(self, method, path, query=None, headers=None, body=b""):
        from werkzeug.datastructures import Headers, MultiDict

        self.method, self.path, self.body = method, path, body
        self.query, self.headers = MultiDict(query or {}), Headers(headers or {})


def _handlers(count: int) -> dict:
    import importlib.util

    from local import launcher

    def load_handler(folder: Path):
        spec = importlib.util.spec_from_file_location(f"bench_{folder.name}", folder / "handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    from bench import world

    running = launcher.start(
        Path(tempfile.mkdtemp(prefix="ac-micro-")),
        env={"LOCAL_CRON_SECONDS": "0", "OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE": "1000000"},
    )
    try:
        world.point_at(running.env)
        w = world.build(aidants=2, usagers=30)
        root = Path(__file__).resolve().parent.parent / "functions"
        authorize, token, userinfo = (
            load_handler(root / name) for name in ("oidc_authorize", "oidc_token", "oidc_userinfo")
        )
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
            query = {
                "response_type": "code",
                "client_id": w.client_id,
                "redirect_uri": w.redirect_uri,
                "scope": "openid profile birth email",
                "state": "s" * 16,
                "nonce": "n" * 16,
                "acr_values": "eidas1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            answer = timed("GET /oidc/authorize", authorize, _Event("GET", "/oidc/authorize", query))
            txn = parse_qs(urlsplit(dict(answer["headers"])["Location"]).query)["txn"][0]
            # The session, and the cookie /oidc/authorize set for this transaction.
            browser = {"Cookie": cookie["Cookie"] + "; " + dict(answer["headers"])["Set-Cookie"].split(";")[0]}
            timed(
                "GET /api/fi/transactions/{txn}", authorize, _Event("GET", f"/api/fi/transactions/{txn}", None, browser)
            )
            usager, demarche = w.usagers[0]
            choice = {"usager": usager, "demarche": demarche}
            if getattr(w, "mandates", None):  # the offer's mandate, as the front-end sends it
                choice["mandate"] = w.mandates[usager]
            answer = timed(
                "POST /api/fi/transactions/{txn}",
                authorize,
                _Event(
                    "POST",
                    f"/api/fi/transactions/{txn}",
                    None,
                    {**browser, "Content-Type": "application/json"},
                    json.dumps(choice).encode(),
                ),
            )
            code = parse_qs(urlsplit(json.loads(answer["body"])["redirect_to"]).query)["code"][0]
            answer = timed(
                "POST /oidc/token",
                token,
                _Event(
                    "POST",
                    "/oidc/token",
                    None,
                    {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"},
                    urlencode(
                        {
                            "grant_type": "authorization_code",
                            "code": code,
                            "redirect_uri": w.redirect_uri,
                            "code_verifier": verifier,
                        }
                    ).encode(),
                ),
            )
            access = json.loads(answer["body"])["access_token"]
            timed(
                "GET /oidc/userinfo",
                userinfo,
                _Event("GET", "/oidc/userinfo", None, {"Authorization": "Bearer " + access}),
            )

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

    from bench.load import cpu_by_process
    from local import launcher

    running = launcher.start(Path(tempfile.mkdtemp(prefix="ac-micro-")), env={"LOCAL_CRON_SECONDS": "0"})
    try:
        session, out = requests.Session(), {}
        for label, path in (
            ("proxied (GET /oidc/jwks)", "/oidc/jwks"),
            ("refused at the gateway (405)", "/api/mandates/x/revoke"),
        ):
            for _ in range(100):
                session.get(running.url + path)
            before = cpu_by_process(running.process.pid)
            for _ in range(count):
                session.get(running.url + path)
            after = cpu_by_process(running.process.pid)
            out[label] = {
                k: round((after[k] - before.get(k, 0)) * 1000 / count, 3)
                for k in after
                if after[k] - before.get(k, 0) > 0.005
            }
        return {"CPU ms per request by process": out}
    finally:
        running.stop()


def _counters(rounds: int, count: int) -> dict:
    """The token's transaction as ``shared.oidc.tokens.save`` writes it (the token, the
    code consumed, the journal entry), with and without the statistics' operation
    (``stats.count_demarche_done``), in alternating batches: CPU of this process
    (the client: building and sending the transaction) and of DynamoDB Local."""
    from bench import procs

    with _dynamodb_local() as process:
        from shared import crypto, journal, stats, store
        from shared.store import AccessToken, AuthorizationCode

        for _ in range(30):  # the table, then DynamoDB Local's JIT
            try:
                store.create_table()
                break
            except Exception:
                time.sleep(1)

        def token(counted: bool) -> None:
            now_s, token_hash, code_hash = int(time.time()), crypto.new_id(), crypto.new_id()
            item = AccessToken(
                *AccessToken.key(token_hash),
                client_id="fc",
                scope="openid profile",
                usager_id="u",
                aidant_id="a",
                structure_id="s",
                mandate_id="m",
                demarche="papiers",
                code_hash=code_hash,
                expires_at=now_s + 300,
                ttl=now_s + 300,
            )
            C = AuthorizationCode
            with store.transaction() as tx:
                tx.save(item, condition=AccessToken.pk.does_not_exist())
                tx.update(C(*C.key(code_hash)), actions=[C.used_at.set(now_s), C.access_token_hash.set(token_hash)])
                tx.save(
                    issued := journal.entry(
                        "oidc_token_issued",
                        aidant_id="a",
                        structure_id="s",
                        usager_id="u",
                        mandate_id="m",
                        demarche="papiers",
                        client_id="fc",
                    ),
                    condition=journal.append_condition(),
                )
                if counted:
                    stats.count_demarche_done(tx, issued)

        spent = {False: {"client": [], "dynamodb-local": []}, True: {"client": [], "dynamodb-local": []}}
        for variant in (False, True):
            for _ in range(count):
                token(variant)
        for _ in range(rounds):
            for variant in (False, True):
                client, server = time.process_time(), procs.cpu_seconds(process.pid)
                for _ in range(count):
                    token(variant)
                spent[variant]["client"].append((time.process_time() - client) * 1000 / count)
                spent[variant]["dynamodb-local"].append((procs.cpu_seconds(process.pid) - server) * 1000 / count)
        median = lambda values: round(sorted(values)[len(values) // 2], 3)  # noqa: E731
        return {
            "CPU ms per token transaction (median of the rounds)": {
                ("with the counters" if variant else "without"): {k: median(v) for k, v in parts.items()}
                for variant, parts in spent.items()
            },
            "rounds": rounds,
            "transactions per round and variant": count,
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["store", "handlers", "gateway", "dynamodb", "counters"])
    parser.add_argument("--root", help="another checkout to measure (default: this one)")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args(argv)
    if args.root:
        # This file, run with that checkout's shared/, local/, functions/ (and bench/world.py).
        root = str(Path(args.root).resolve())
        code = (
            f"import runpy, sys; sys.path.insert(0, {root!r}); "
            f"sys.argv = ['micro', {args.what!r}, '--count', '{args.count}']; "
            f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
        )
        return subprocess.call([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": root})
    load = os.getloadavg()[0]
    result = {
        "store": lambda: _store(3, args.count),
        "handlers": lambda: _handlers(max(30, args.count // 2)),
        "gateway": lambda: _gateway(args.count * 3),
        "dynamodb": lambda: _dynamodb(4, args.count),
        "counters": lambda: _counters(7, args.count),
    }[args.what]()
    print(
        json.dumps(
            {"what": args.what, "root": str(Path.cwd()), "loadavg": round(load, 2), **result}, ensure_ascii=False
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
