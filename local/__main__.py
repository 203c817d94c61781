"""Local commands.

python -m local up [--store dynamodb-local|moto] [--gateway-port 8080] [--in-memory] ...
python -m local up --sandbox        # the training sandbox: http://127.0.0.1:8090/bac-a-sable/
python -m local reset
python -m local seed [--json]
python -m local otp EMAIL
python -m local create-table
python -m local journal seal|verify [--anchor SEQ:HASH]
python -m local stats backfill [--check] [--since YYYY-MM-DD]
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
# The training sandbox beside `make up`: its own state, ports and table, so both run
# at once (README, "Training sandbox").
SANDBOX_STATE = DEFAULT_STATE / "sandbox"
SANDBOX_PORTS = {
    "gateway": ("SANDBOX_GATEWAY_PORT", 8090),
    "dynamodb": ("SANDBOX_DYNAMODB_PORT", 8010),
    "smtp": ("SANDBOX_SMTP_PORT", 1035),
}
SANDBOX_TABLE = "aidants-connect-bac-a-sable"
SANDBOX_FRANCECONNECT_CLIENT_ID = "aidants-connect-bac-a-sable"


def state_dir(sandbox: bool = False) -> Path:
    return Path(os.environ.get("LOCAL_STATE_DIR", SANDBOX_STATE if sandbox else DEFAULT_STATE)).resolve()


def _profile(args) -> str:
    return "sandbox" if getattr(args, "sandbox", False) else "production"


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
    sandbox = _profile(args) == "sandbox"
    env = {
        "PYTHONPATH": str(ROOT),
        # Always said: a PROFILE inherited from the shell (or a test that pointed itself
        # at a sandbox) never turns a `make up` into something else.
        "PROFILE": "sandbox" if sandbox else "production",
        "TABLE_NAME": os.environ.get("TABLE_NAME", SANDBOX_TABLE if sandbox else "aidants-connect"),
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
        # A mandate signed or a démarche done shows in /api/stats at the next read
        # (production keeps the figures 5 s per process: stack.yml).
        "STATS_CACHE_SECONDS": os.environ.get("STATS_CACHE_SECONDS", "0"),
    }
    if sandbox:
        # The training profile (shared/config.py): its own FranceConnect client at its
        # stand-in, no e-mail (a right code opens the session).
        env.update({"FRANCECONNECT_CLIENT_ID": SANDBOX_FRANCECONNECT_CLIENT_ID, "LOGIN_LINK_ENABLED": "false"})
        for name in (
            "SANDBOX_TRAINEE_DAYS",
            "SANDBOX_SIGNUPS_PER_EMAIL_PER_DAY",
            "SANDBOX_SIGNUPS_PER_HOUR",
            "PRODUCTION_TABLE_NAMES",
            "PRODUCTION_ISSUERS",
        ):
            if os.environ.get(name):
                env[name] = os.environ[name]
    for name in (
        "LOGIN_LINK_ENABLED",
        "SESSION_IDLE_SECONDS",
        "LOGIN_LINK_TTL_SECONDS",
        "OTP_MAX_FAILURES",
        "OTP_LOCKOUT_SECONDS",
        "STORE_TIMEOUT_SECONDS",
        "OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE",
    ):
        if os.environ.get(name) and not (sandbox and name == "LOGIN_LINK_ENABLED"):
            env[name] = os.environ[name]
    return env


def profile_problem(env: dict) -> str | None:
    """What the functions would refuse to serve with (shared/config.py), asked before
    anything starts: `local up --sandbox` against the production table exits."""
    from shared import config

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        config.reset_caches()
        return config.settings().profile_problem
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.reset_caches()


def load_running_env(sandbox: bool = False) -> None:
    """Point this process at the stack ``make up`` (or ``make sandbox``) started
    (for seed and otp)."""
    info = state_dir(sandbox) / "stack.json"
    if info.exists():
        for key, value in json.loads(info.read_text())["env"].items():
            os.environ.setdefault(key, value)


PORTS = {
    "gateway": ("the gateway", "GATEWAY_PORT"),
    "dynamodb": ("DynamoDB Local", "DYNAMODB_PORT"),
    "smtp": ("the SMTP sink", "SMTP_PORT"),
}


def _already_running(state: Path, pid: int | None) -> None:
    info = json.loads((state / "stack.json").read_text()) if (state / "stack.json").exists() else {}
    print(
        f"The local stack is already running (pid {pid or '?'}) at {info.get('url', '?')}.\n"
        f"Stop it with Ctrl-C in its terminal (or kill {pid or 'it'}) first.",
        file=sys.stderr,
    )


def _stop_leftovers(state: Path) -> None:
    """Children of a ``local up`` that was killed (SIGKILL, a crash) outlive it: stop
    them, so that they neither hold the ports nor keep running unseen. Only the
    processes it recorded, each checked to be that very process (local/processes.py)."""
    from . import processes

    owner, found = processes.leftovers(state / "processes.json")
    if found:
        print(
            f"Stopping {len(found)} processes left running by a previous `local up` (pid {owner}) that did "
            f"not stop them: {processes.describe(found)}.",
            file=sys.stderr,
            flush=True,
        )
        processes.stop(found)
    (state / "processes.json").unlink(missing_ok=True)


def _ports_free(args) -> bool:
    from . import processes

    for name, port in (("gateway", args.gateway_port), ("dynamodb", args.dynamodb_port), ("smtp", args.smtp_port)):
        if (name == "smtp" and (args.external_smtp or args.sandbox)) or (name == "dynamodb" and args.store_url):
            continue  # served by another program, on purpose; the sandbox has no SMTP
        if processes.port_taken(port):
            holder = processes.holder_of(port)
            what, variable = PORTS[name]
            if args.sandbox:
                variable = SANDBOX_PORTS[name][0]
            print(
                f"Cannot start: port {port} (for {what}) is already in use{' by ' + holder if holder else ''}, "
                f"not by a process this folder's `local up` started.\n"
                f"Stop that program, or choose another port: {variable}=<port> make "
                f"{'sandbox' if args.sandbox else 'up'}",
                file=sys.stderr,
            )
            return False
    return True


def _resolve_ports(args) -> None:
    """Ports not given on the command line: the environment's, else the profile's
    defaults (the sandbox's differ, so that it runs beside `make up`)."""
    production = {"gateway": ("GATEWAY_PORT", 8080), "dynamodb": ("DYNAMODB_PORT", 8000), "smtp": ("SMTP_PORT", 1025)}
    for name, (variable, default) in (SANDBOX_PORTS if args.sandbox else production).items():
        attribute = f"{name}_port"
        if getattr(args, attribute) is None:
            setattr(args, attribute, int(os.environ.get(variable, default)))


def cmd_up(args) -> int:
    from . import processes

    _resolve_ports(args)
    state = state_dir(args.sandbox)
    if args.sandbox:
        problem = profile_problem(stack_env(args, state))
        if problem:
            print(
                f"Refusing to start the training sandbox: {problem}.\n"
                "The sandbox must never run against production's table or issuer (shared/config.py); "
                "unset TABLE_NAME to use its own, aidants-connect-bac-a-sable.",
                file=sys.stderr,
            )
            return 2
    for sub in ("logs", "mail", "secrets"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    try:
        held = processes.lock(state)
    except processes.AlreadyRunning as running:
        _already_running(state, running.pid)
        return 1
    try:
        (state / "ready").unlink(missing_ok=True)  # left by a `local up` that was killed
        _stop_leftovers(state)
        if not _ports_free(args):
            return 3
        return _run_stack(args, state, processes.Registry(state / "processes.json"))
    finally:
        (state / "up.pid").unlink(missing_ok=True)
        held.close()


def _store_data(args, state: Path) -> Path | None:
    if args.store != "dynamodb-local" or args.in_memory:
        return None
    return Path(args.store_data) if args.store_data else state / "dynamodb"


def _ensure_table() -> None:
    """The table exists, or is created again with the demo data: a store in memory
    that restarted lost it, or someone deleted it; either way, without it every
    request is a 503 (an outage) until someone notices."""
    from shared import store as store_module
    from shared.store import Item

    from . import seed

    if Item.exists():
        return
    store_module.create_table()
    seed.run()
    print("The table was missing: created it again, with the demo data.", file=sys.stderr, flush=True)


def _build_frontend(sandbox: bool = False) -> bool:
    """The pages the gateway serves, rendered from their templates (fast: a file is
    rewritten only when it changed); the sandbox's variant in a folder of its own."""
    import jinja2

    from frontend import build

    try:
        print(f"Front-end: {build.build(sandbox=sandbox)}", flush=True)
    except (jinja2.TemplateError, build.BuildError, OSError) as exc:
        print(f"Cannot build the front-end (python -m frontend.build): {exc!r}", file=sys.stderr)
        return False
    return True


def _run_stack(args, state: Path, registry) -> int:
    from . import dynamodb, processes

    gateway = None
    services: list[processes.Service] = []
    supervisor = None

    def stop(signum, frame):
        raise KeyboardInterrupt

    # From the start: a SIGTERM while starting stops what was started, too.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started from a shell that ignores it
    try:
        if not _build_frontend(args.sandbox):
            return 2
        ensure_secrets(state / "secrets")
        env = {**os.environ, **stack_env(args, state)}
        os.environ.update(stack_env(args, state))
        logs = state / "logs"
        data_dir = _store_data(args, state)
        # --store-url: a store someone else runs (the hang tests put a relay in front
        # of their own DynamoDB Local); it is neither started nor supervised here.
        store = (
            None
            if args.store_url
            else processes.Service(
                "DynamoDB Local" if args.store == "dynamodb-local" else "moto's server",
                lambda: dynamodb.spawn(args.store, args.dynamodb_port, logs / "dynamodb.log", data_dir=data_dir),
                args.dynamodb_port,
                ready_timeout=60,
                after_restart=_ensure_table,
            )
        )
        sink = processes.Service(
            "the SMTP sink",
            lambda: subprocess.Popen(
                [sys.executable, "-m", "local.smtp_sink", "--port", str(args.smtp_port), "--dir", str(state / "mail")],
                cwd=ROOT,
                env=env,
                stdout=open(logs / "smtp.log", "ab"),
                stderr=subprocess.STDOUT,
            ),
            args.smtp_port,
            ready_timeout=20,
        )
        # The sandbox sends no e-mail (shared/sandbox/inbox.py): no SMTP sink to start.
        no_sink = args.external_smtp or args.sandbox
        services = ([store] if store else []) + ([] if no_sink else [sink])
        if store is not None:
            try:
                store.start(registry)
            except (processes.ServiceFailed, dynamodb.StoreUnavailable) as exc:
                print(f"Cannot start the store: {exc} (see {logs / 'dynamodb.log'})", file=sys.stderr)
                return 2
        from shared import store as store_module

        from . import seed

        store_module.create_table()
        demo = seed.run()
        if not no_sink:
            sink.start(registry)

        from waitress.server import create_server

        from frontend import build

        from .gateway import Gateway

        workers = dict(w.split("=") for w in args.workers) if args.workers else {}
        gateway = Gateway(
            env,
            logs,
            state / "mail",
            {k: int(v) for k, v in workers.items()},
            threads=args.function_threads,
            on_start=lambda name, process: registry.add(f"function {name}", process),
            profile=_profile(args),
            frontend=build.SANDBOX_OUT if args.sandbox else build.OUT,
        )
        if not args.sandbox:
            # The sandbox runs these two as functions of its stack, as it deploys them.
            _mount_local_apps(gateway)
        gateway.start()
        server = create_server(
            gateway,
            host="127.0.0.1",
            port=args.gateway_port,
            threads=args.gateway_threads,
            ident="aidants-connect-local",
            channel_timeout=60,
        )
        supervisor = processes.Supervisor(registry, services, check=_ensure_table)
        supervisor.start()
        url = f"http://127.0.0.1:{args.gateway_port}"
        (state / "stack.json").write_text(
            json.dumps(
                {
                    "url": url,
                    "pid": os.getpid(),
                    "env": stack_env(args, state),
                    "profile": _profile(args),
                    "store": args.store,
                    "store_data": str(data_dir) if data_dir else "memory",
                },
                indent=2,
            )
        )
        (_print_sandbox_banner if args.sandbox else _print_banner)(url, demo, args, data_dir)

        from . import scheduler

        scheduler.start(url, _profile(args))  # the cron-connector's schedules (stack.yml annotations)
        (state / "ready").write_text(url)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        print("\nStopping…", file=sys.stderr)
        (state / "ready").unlink(missing_ok=True)
        if supervisor is not None:
            supervisor.stop()
        if gateway is not None:
            gateway.stop()
        for service in reversed(services):
            service.stop()
        registry.clear()


def cmd_reset(args) -> int:
    """Wipe the local data (DynamoDB Local's files, the mail received); the keys and
    the logs stay. The next ``make up`` starts from the demo data again."""
    import shutil

    from . import processes

    state = state_dir(args.sandbox)
    if not state.exists():
        print(f"Nothing to reset: {state} does not exist.")
        return 0
    try:
        held = processes.lock(state)
    except processes.AlreadyRunning as running:
        _already_running(state, running.pid)
        return 1
    try:
        _stop_leftovers(state)  # a DynamoDB Local still running would keep the files open
        for sub in ("dynamodb", "mail"):
            shutil.rmtree(state / sub, ignore_errors=True)
        (state / "stack.json").unlink(missing_ok=True)
        print(
            f"Wiped the local data in {state} (dynamodb/, mail/); keys and logs are kept. "
            "`make up` seeds the demo data again."
        )
        return 0
    finally:
        (state / "up.pid").unlink(missing_ok=True)
        held.close()


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


def _print_sandbox_banner(url: str, demo: dict, args, data_dir: Path | None) -> None:
    kept = f"data kept in {data_dir}: make sandbox-reset wipes it" if data_dir else "data in memory"
    print(
        f"""
The Aidants Connect training sandbox runs locally ({args.store}, {kept}).
Fictitious data only; no e-mail leaves it (each trainee reads theirs on the inbox page).

  Sign up          {url}/bac-a-sable/
  Virtual OTP card {url}/bac-a-sable/carte/
  Demo site        {url}/demo/   (FranceConnect-enabled, plays our identity provider's client)
  FranceConnect    {url}/franceconnect/   (the sandbox's stand-in)
  Logs             {state_dir(True) / "logs"}

A trainee signs up with a name and an e-mail, then logs in with the code of the
virtual card (or of a phone application): no e-mailed link in the sandbox.

Ctrl-C stops everything.
""",
        flush=True,
    )


def _print_banner(url: str, demo: dict, args, data_dir: Path | None) -> None:
    aidant = demo.get("aidant") or {}
    kept = f"data kept in {data_dir}: make reset wipes it" if data_dir else "data in memory"
    print(
        f"""
Aidants Connect runs locally ({args.store}, {kept}).

  Front-end        {url}/
  Mail received    {url}/_local/mail/
  OIDC discovery   {url}/.well-known/openid-configuration
  Logs             {state_dir() / "logs"}

Log in as the demo aidant:
  e-mail           {aidant.get("email")}
  6-digit code     python -m local otp {aidant.get("email")}   (or: make otp)
  then open the link e-mailed to you at {url}/_local/mail/

Ctrl-C stops everything.
""",
        flush=True,
    )


def _store_is_local() -> bool:
    host = os.environ.get("DYNAMODB_HOST")
    hostname = urlsplit(host).hostname if host else None
    try:
        return hostname is not None and (hostname == "localhost" or ipaddress.ip_address(hostname).is_loopback)
    except ValueError:
        return False


def cmd_seed(args) -> int:
    load_running_env(args.sandbox)
    if not _store_is_local():
        # Demo accounts, a staff account and a client with a printed secret have no
        # place in a real table.
        print("Refusing: `seed` only writes to a local store (DYNAMODB_HOST on loopback).", file=sys.stderr)
        return 2
    from . import seed

    demo = seed.run()
    print(
        json.dumps(demo, indent=2, ensure_ascii=False)
        if args.json
        else f"Demo data ready: aidant {demo['aidant']['email']}"
    )
    return 0


def cmd_otp(args) -> int:
    load_running_env(args.sandbox)
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


def cmd_status(args) -> int:
    load_running_env()
    from deploy import status

    print("\n".join(status.report()))
    return 0


def cmd_create_table(args) -> int:
    load_running_env()
    from shared import store

    print("created" if store.create_table() else "table already exists")
    return 0


def cmd_journal(args) -> int:
    load_running_env()
    if not _store_is_local():
        print(
            "Refusing: `journal` works on a local store (DYNAMODB_HOST on loopback); "
            "for a deployed table: python -m deploy journal verify.",
            file=sys.stderr,
        )
        return 2
    if args.action == "seal":
        from shared import seals

        print(seals.seal_now().line())
        return 0
    from shared import seals

    try:
        anchor = seals.parse_anchor(args.anchor) if args.anchor else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = seals.verify(anchor)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_stats(args) -> int:
    load_running_env()
    if not _store_is_local():
        print(
            "Refusing: `stats` works on a local store (DYNAMODB_HOST on loopback); "
            "for a deployed table: python -m deploy stats backfill.",
            file=sys.stderr,
        )
        return 2
    from deploy import stats

    try:
        ok, lines = stats.backfill(args.check, since=args.since, settle=args.settle)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack on this machine")
    up.add_argument("--store", default=os.environ.get("STORE", "dynamodb-local"), choices=["dynamodb-local", "moto"])
    up.add_argument(
        "--sandbox",
        action="store_true",
        help="the training sandbox (bac à sable): its own table, ports (8090, 8010) and .local/sandbox/",
    )
    up.add_argument(
        "--gateway-port", type=int, help="default GATEWAY_PORT or 8080 (sandbox: SANDBOX_GATEWAY_PORT or 8090)"
    )
    up.add_argument(
        "--dynamodb-port", type=int, help="default DYNAMODB_PORT or 8000 (sandbox: SANDBOX_DYNAMODB_PORT or 8010)"
    )
    up.add_argument("--smtp-port", type=int, help="default SMTP_PORT or 1025 (the sandbox starts no SMTP sink)")
    up.add_argument("--workers", nargs="*", help="replicas per function, e.g. oidc_token=2")
    up.add_argument("--gateway-threads", type=int, default=32)
    up.add_argument("--function-threads", type=int, default=4)
    data = up.add_mutually_exclusive_group()
    data.add_argument(
        "--store-data",
        metavar="DIR",
        help="keep DynamoDB Local's data in DIR (default: .local/dynamodb; make reset wipes it)",
    )
    data.add_argument(
        "--in-memory",
        action="store_true",
        help="keep DynamoDB Local's data in memory: lost when it stops (the tests' stacks)",
    )
    up.add_argument(
        "--external-smtp",
        action="store_true",
        help="start no SMTP sink: mail goes to 127.0.0.1:SMTP_PORT, served by another program",
    )
    data.add_argument(
        "--store-url",
        metavar="URL",
        help="use a store already running at URL (loopback), neither started nor stopped here",
    )
    up.set_defaults(fn=cmd_up)
    seed = sub.add_parser("seed", help="create the demo data (idempotent)")
    seed.add_argument("--json", action="store_true")
    seed.add_argument("--sandbox", action="store_true", help="the running training sandbox's")
    seed.set_defaults(fn=cmd_seed)
    otp = sub.add_parser("otp", help="print an aidant's current TOTP code (local store only)")
    otp.add_argument("email")
    otp.add_argument("--sandbox", action="store_true", help="a trainee of the running training sandbox")
    otp.set_defaults(fn=cmd_otp)
    sub.add_parser("create-table", help="create the table if missing").set_defaults(fn=cmd_create_table)
    sub.add_parser("status", help="the outbox's backlog and failed e-mails (as python -m deploy status)").set_defaults(
        fn=cmd_status
    )
    journal = sub.add_parser("journal", help="seal the journal now, or verify it against its seals")
    journal.add_argument("action", choices=["seal", "verify"])
    journal.add_argument("--anchor", metavar="SEQ:HASH", help="verify: a seal hash kept outside the table")
    journal.set_defaults(fn=cmd_journal)
    stats_parser = sub.add_parser(
        "stats", help="the public statistics' counters recomputed from the data (as python -m deploy stats)"
    )
    from deploy import stats as stats_command

    stats_command.add_arguments(stats_parser)
    stats_parser.set_defaults(fn=cmd_stats)
    reset = sub.add_parser("reset", help="wipe the local data (.local/dynamodb, .local/mail)")
    reset.add_argument("--sandbox", action="store_true", help="the training sandbox's (.local/sandbox/)")
    reset.set_defaults(fn=cmd_reset)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
