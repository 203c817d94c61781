"""Local commands.

    python -m local up [--store dynamodb-local|moto] [--gateway-port 8080] ...
    python -m local seed [--json]
    python -m local otp EMAIL
    python -m local create-table
    python -m local journal seal|verify [--anchor SEQ:HASH]
"""
from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .stack import ROOT

DEFAULT_STATE = ROOT / ".local"


def state_dir() -> Path:
    return Path(os.environ.get("LOCAL_STATE_DIR", DEFAULT_STATE)).resolve()


def ensure_secrets(folder: Path) -> None:
    """Keys a local run needs; production gets them as OpenFaaS secrets."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("token-hmac-key", "totp-seal-key", "franceconnect-client-secret"):
        path = folder / name
        if not path.exists():
            path.write_text(base64.b64encode(os.urandom(32)).decode())
            path.chmod(0o600)
    try:
        from . import keys
    except ImportError:
        return
    keys.ensure_local_keys(folder)


def stack_env(args, state: Path) -> dict:
    issuer = f"http://127.0.0.1:{args.gateway_port}"
    env = {
        "PYTHONPATH": str(ROOT),
        "TABLE_NAME": os.environ.get("TABLE_NAME", "aidants-connect"),
        "DYNAMODB_HOST": getattr(args, "store_url", None) or f"http://127.0.0.1:{args.dynamodb_port}",
        "AWS_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "ISSUER": issuer,
        "FRONTEND_URL": issuer,
        "GATEWAY_URL": issuer,
        "FRANCECONNECT_URL": issuer + "/franceconnect",
        "FRANCECONNECT_CLIENT_ID": "aidants-connect-local",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(args.smtp_port),
        "SMTP_STARTTLS": "false",
        "SMTP_SSL": "false",
        "SMTP_USER": "",
        "SECRETS_DIR": str(state / "openfaas-secrets"),
        "LOCAL_SECRETS_DIR": str(state / "secrets"),
        "LOCAL_STATE_DIR": str(state),
        # Local runs show DynamoDB calls and timing per answer (benchmarks read them).
        "EXPOSE_DIAGNOSTICS": os.environ.get("EXPOSE_DIAGNOSTICS", "true"),
    }
    for name in ("LOGIN_LINK_ENABLED", "SESSION_IDLE_SECONDS", "LOGIN_LINK_TTL_SECONDS",
                 "OTP_MAX_FAILURES", "OTP_LOCKOUT_SECONDS", "STORE_TIMEOUT_SECONDS",
                 "OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def load_running_env() -> None:
    """Point this process at the stack ``make up`` started (for seed and otp)."""
    info = state_dir() / "stack.json"
    if info.exists():
        for key, value in json.loads(info.read_text())["env"].items():
            os.environ.setdefault(key, value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def cmd_up(args) -> int:
    state = state_dir()
    for sub in ("logs", "mail", "secrets"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    lock = state / "up.pid"
    if lock.exists():
        try:
            pid = int(lock.read_text().split()[0])
        except ValueError:
            pid = 0
        if pid and _pid_alive(pid):
            info = json.loads((state / "stack.json").read_text()) if (state / "stack.json").exists() else {}
            print(f"The local stack is already running (pid {pid}) at {info.get('url', '?')}.\n"
                  f"Stop it with Ctrl-C in its terminal (or kill {pid}) before starting another.", file=sys.stderr)
            return 1
    lock.write_text(str(os.getpid()))
    try:
        return _run_stack(args, state)
    finally:
        lock.unlink(missing_ok=True)


def _run_stack(args, state: Path) -> int:
    from . import dynamodb
    children: list[subprocess.Popen] = []
    gateway = None
    try:
        ensure_secrets(state / "secrets")
        env = {**os.environ, **stack_env(args, state)}
        os.environ.update(stack_env(args, state))
        logs = state / "logs"
        if not args.store_url:
            try:
                store = dynamodb.start(args.store, args.dynamodb_port, logs / "dynamodb.log",
                                       data_dir=Path(args.store_data) if args.store_data else None)
            except dynamodb.StoreUnavailable as exc:
                print(f"Cannot start the store: {exc}", file=sys.stderr)
                return 2
            children.append(store)
        from shared import store as store_module
        from . import seed
        store_module.create_table()
        demo = seed.run()
        sink = subprocess.Popen([sys.executable, "-m", "local.smtp_sink", "--port", str(args.smtp_port),
                                 "--dir", str(state / "mail")], cwd=ROOT, env=env,
                                stdout=open(logs / "smtp.log", "ab"), stderr=subprocess.STDOUT)
        children.append(sink)
        dynamodb.wait_port(args.smtp_port, sink, 20, "the SMTP sink")

        from waitress.server import create_server
        from .gateway import Gateway
        workers = dict(w.split("=") for w in args.workers) if args.workers else {}
        gateway = Gateway(env, logs, state / "mail", {k: int(v) for k, v in workers.items()},
                          threads=args.function_threads)
        _mount_local_apps(gateway)
        gateway.start()
        server = create_server(gateway, host="127.0.0.1", port=args.gateway_port, threads=args.gateway_threads,
                               ident="aidants-connect-local", channel_timeout=60)
        url = f"http://127.0.0.1:{args.gateway_port}"
        (state / "stack.json").write_text(json.dumps({"url": url, "pid": os.getpid(), "env": stack_env(args, state),
                                                      "store": args.store}, indent=2))
        _print_banner(url, demo, args)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)  # also when started from a shell that ignores it
        from . import scheduler
        scheduler.start(url)  # the cron-connector's schedules (stack.yml annotations)
        (state / "ready").write_text(url)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        print("\nStopping…", file=sys.stderr)
        (state / "ready").unlink(missing_ok=True)
        if gateway is not None:
            gateway.stop()
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()


def _mount_local_apps(gateway) -> None:
    """Local-only WSGI apps served by the gateway under a prefix: the FranceConnect
    stand-in (identity provider for mandate creation) and the demo service that plays
    FranceConnect as a client of our identity provider."""
    import importlib
    for prefix, module in (("/franceconnect", "local.franceconnect"), ("/demo", "local.fi_demo")):
        try:
            app_module = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        gateway.mounts[prefix] = app_module.make_app()


def _print_banner(url: str, demo: dict, args) -> None:
    aidant = demo.get("aidant") or {}
    print(f"""
Aidants Connect runs locally ({args.store}).

  Front-end        {url}/
  Mail received    {url}/_local/mail/
  OIDC discovery   {url}/.well-known/openid-configuration
  Logs             {state_dir() / 'logs'}

Log in as the demo aidant:
  e-mail           {aidant.get('email')}
  6-digit code     python -m local otp {aidant.get('email')}   (or: make otp)
  then open the link e-mailed to you at {url}/_local/mail/

Ctrl-C stops everything.
""", flush=True)


def _store_is_local() -> bool:
    host = os.environ.get("DYNAMODB_HOST")
    hostname = urlsplit(host).hostname if host else None
    try:
        return hostname is not None and (hostname == "localhost" or ipaddress.ip_address(hostname).is_loopback)
    except ValueError:
        return False


def cmd_seed(args) -> int:
    load_running_env()
    if not _store_is_local():
        # Demo accounts, a staff account and a client with a printed secret have no
        # place in a real table.
        print("Refusing: `seed` only writes to a local store (DYNAMODB_HOST on loopback).", file=sys.stderr)
        return 2
    from . import seed
    demo = seed.run()
    print(json.dumps(demo, indent=2, ensure_ascii=False) if args.json else
          f"Demo data ready: aidant {demo['aidant']['email']}")
    return 0


def cmd_otp(args) -> int:
    load_running_env()
    if not _store_is_local():
        print("Refusing: `otp` only reads a local store (DYNAMODB_HOST on loopback).", file=sys.stderr)
        return 2
    from shared import accounts, otp
    aidant = accounts.find_aidant_by_email(args.email)
    if aidant is None:
        print(f"No aidant with e-mail {args.email}", file=sys.stderr)
        return 1
    _, devices = otp.devices_of(aidant.id)
    if not devices:
        print(f"{args.email} has no TOTP device", file=sys.stderr)
        return 1
    print(otp.totp_for(devices[0]).now())
    return 0


def cmd_create_table(args) -> int:
    load_running_env()
    from shared import store
    print("created" if store.create_table() else "table already exists")
    return 0


def cmd_journal(args) -> int:
    load_running_env()
    if not _store_is_local():
        print("Refusing: `journal` works on a local store (DYNAMODB_HOST on loopback); "
              "for a deployed table: python -m deploy journal verify.", file=sys.stderr)
        return 2
    if args.action == "seal":
        from shared import journal_seal
        print(journal_seal.seal_now().line())
        return 0
    from shared import journal_verify
    try:
        anchor = journal_verify.parse_anchor(args.anchor) if args.anchor else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = journal_verify.verify(anchor)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack on this machine")
    up.add_argument("--store", default=os.environ.get("STORE", "dynamodb-local"), choices=["dynamodb-local", "moto"])
    up.add_argument("--gateway-port", type=int, default=int(os.environ.get("GATEWAY_PORT", 8080)))
    up.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("DYNAMODB_PORT", 8000)))
    up.add_argument("--smtp-port", type=int, default=int(os.environ.get("SMTP_PORT", 1025)))
    up.add_argument("--workers", nargs="*", help="replicas per function, e.g. oidc_token=2")
    up.add_argument("--gateway-threads", type=int, default=32)
    up.add_argument("--function-threads", type=int, default=4)
    up.add_argument("--store-data", metavar="DIR",
                    help="keep DynamoDB Local's data in DIR (default: in memory, lost when it stops)")
    up.add_argument("--store-url", metavar="URL",
                    help="use a store already running at URL (loopback), neither started nor stopped here")
    up.set_defaults(fn=cmd_up)
    seed = sub.add_parser("seed", help="create the demo data (idempotent)")
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(fn=cmd_seed)
    otp = sub.add_parser("otp", help="print an aidant's current TOTP code (local store only)")
    otp.add_argument("email")
    otp.set_defaults(fn=cmd_otp)
    sub.add_parser("create-table", help="create the table if missing").set_defaults(fn=cmd_create_table)
    journal = sub.add_parser("journal", help="seal the journal now, or verify it against its seals")
    journal.add_argument("action", choices=["seal", "verify"])
    journal.add_argument("--anchor", metavar="SEQ:HASH", help="verify: a seal hash kept outside the table")
    journal.set_defaults(fn=cmd_journal)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
