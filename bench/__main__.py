"""``make bench`` / ``python -m bench``: figures against docs/performance.md's targets, never pass/fail.

Starts its own local stacks (``local.launcher``, free loopback ports, temporary state)
and runs, against the identity provider:

a. N concurrent FranceConnect clients, each running the whole flow
   (authorize → GET transaction → POST transaction → token → userinfo), after a
   warm-up (DynamoDB Local's JIT) and a one-client run for latency at low load;
b. each endpoint alone, N clients;
c. the one-client flow again with 10², 10⁴, 10⁵ background usagers and mandates
   in the table (bench/dataset.py);
d. the flow with 1, 2, 4 worker processes per hot function, each on a fresh stack.

It prints requests/s, p50/p95/p99 and errors per endpoint, DynamoDB calls per request
(the functions' ``X-Store-Calls`` header), CPU per flow summed over every process of
the stack (bench/procs.py), and writes ``bench/results/<name>.json`` and ``.png``.

    python -m bench --quick              # ~2 minutes
    python -m bench --name nightly       # the full run (loading 10⁵ takes minutes)
    python -m bench --profile --quick    # py-spy profiles of the hot functions too
    python -m bench outbox               # the outbox catching up after an SMTP outage (bench/outbox.py)
    python -m bench ab --root OTHER      # alternating A/B runs of the flow against another checkout (bench/ab.py)
    python -m bench capacity --peak 10   # a capacity plan from the newest results (bench/capacity.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from local import launcher

from . import coldstart, dataset, load, plot, profile, world
from .flow import DISCOVERY, FLOW_STEPS, JWKS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOT = ("oidc_authorize", "oidc_token", "oidc_userinfo")
PROFILED = HOT + ("notify",)  # the usager's e-mail, sent per token
# The scheduled notify run (every minute) is not part of the flow: off during runs.
# X-Store-Calls is only sent with diagnostics on (off in production).
# The load runs thousands of authorizations a minute with one client: lift the
# per-client bound (OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE) that production keeps.
# STORE_MEASURE_CAPACITY: every DynamoDB call returns its ConsumedCapacity, summed per
# request (X-Store-Units, and the access lines) for `python -m bench capacity`.
STACK_ENV = {
    "LOCAL_CRON_SECONDS": "0",
    "EXPOSE_DIAGNOSTICS": "true",
    "STORE_MEASURE_CAPACITY": "true",
    "OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE": "1000000",
}


def _options(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases, small sizes (~2 minutes)")
    parser.add_argument("--name", help="results file name (default: quick or full, with the time)")
    parser.add_argument("--clients", type=int, help="concurrent FranceConnect clients (default 8, quick 4)")
    parser.add_argument("--duration", type=float, help="seconds of the main flow phase (default 40, quick 12)")
    parser.add_argument("--sizes", help="background usagers, comma-separated (default 100,10000,100000)")
    parser.add_argument("--workers", help="worker processes per hot function, comma-separated (default 1,2,4)")
    parser.add_argument("--usagers", type=int, default=30, help="usagers under mandate in the bench structure")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles during the flow phase")
    parser.add_argument(
        "--only",
        choices=["flow", "endpoints", "sizes", "workers", "coldstart"],
        action="append",
        help="run only these parts (repeatable)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.clients = args.clients or (4 if quick else 8)
    args.duration = args.duration or (12 if quick else 40)
    args.warmup = 8 if quick else 25
    args.low = 6 if quick else 20
    args.endpoint_seconds = 4 if quick else 12
    args.size_seconds = 6 if quick else 20
    args.worker_seconds = 10 if quick else 30
    args.sizes = [int(s) for s in (args.sizes or ("100,1000" if quick else "100,10000,100000")).split(",") if s]
    args.workers = [int(w) for w in (args.workers or ("1,2" if quick else "1,2,4")).split(",") if w]
    args.parts = set(args.only or ["flow", "endpoints", "sizes", "workers", "coldstart"])
    args.name = args.name or f"{'quick' if quick else 'full'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return args


def _git_commit() -> str:
    """HEAD, marked ``-dirty`` when the run measured uncommitted changes."""
    try:
        head = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
        changed = subprocess.check_output(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, text=True
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("-dirty" if changed else "")


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {text}", flush=True)


def _start(extra_args=()) -> launcher.RunningStack:
    state = Path(tempfile.mkdtemp(prefix="ac-bench-"))
    return launcher.start(state, list(extra_args), env=STACK_ENV)


def main_stack(args, result: dict) -> None:
    _say("starting the stack")
    stack = _start()
    try:
        world.point_at(stack.env)
        w = world.build(usagers=args.usagers)
        pid = stack.process.pid
        if args.parts & {"flow", "endpoints", "sizes"}:
            _say(f"warm-up {args.warmup}s ({args.clients} clients)")
            load.flows("warmup", stack.url, pid, w, args.clients, args.warmup)
        if "flow" in args.parts:
            _say(f"one client, {args.low}s (latency at low load)")
            result["low_load"] = load.flows(
                "low-load", stack.url, pid, w, 1, args.low, logs=stack.state / "logs"
            ).as_json()
            running = profile.start(pid, PROFILED, RESULTS, args.name, args.duration) if args.profile else []
            _say(f"{args.clients} concurrent clients, {args.duration}s")
            result["flow"] = load.flows(
                "flow", stack.url, pid, w, args.clients, args.duration, logs=stack.state / "logs"
            ).as_json()
            if running:
                result["profile"] = profile.finish(running)
        if "endpoints" in args.parts:
            result["endpoints_alone"] = {}
            steps = FLOW_STEPS + (() if args.quick else (DISCOVERY, JWKS))
            for step in steps:
                _say(f"{step} alone, {args.endpoint_seconds}s")
                phase = load.endpoint(step, stack.url, pid, w, args.clients, args.endpoint_seconds)
                result["endpoints_alone"][step] = phase.as_json()
        if "coldstart" in args.parts:
            _say("cold start of each function (process start to first answer)")
            result["coldstart"] = coldstart.measure(stack.env, rounds=1 if args.quick else 3)
        if "sizes" in args.parts:
            result["sizes"] = []
            loaded = 0
            for size in args.sizes:
                _say(f"loading background data up to {size} usagers and mandates")
                started = time.monotonic()
                loaded = dataset.load(size, loaded)
                took = time.monotonic() - started
                load.flows("warmup", stack.url, pid, w, 1, 2)
                _say(f"one client, {args.size_seconds}s, with {size} in the table")
                phase = load.flows(f"size-{size}", stack.url, pid, w, 1, args.size_seconds).as_json()
                phase.update(background_usagers=size, load_seconds=round(took, 1))
                result["sizes"].append(phase)
    finally:
        stack.stop()


def worker_stacks(args, result: dict) -> None:
    result["workers"] = []
    for count in args.workers:
        _say(f"stack with {count} worker(s) per hot function")
        stack = _start(["--workers", *(f"{fn}={count}" for fn in HOT)])
        try:
            world.point_at(stack.env)
            w = world.build(usagers=args.usagers)
            load.flows("warmup", stack.url, stack.process.pid, w, args.clients, args.warmup)
            _say(f"{args.clients} clients, {args.worker_seconds}s, {count} worker(s)")
            phase = load.flows(
                f"workers-{count}", stack.url, stack.process.pid, w, args.clients, args.worker_seconds
            ).as_json()
            phase["workers"] = count
            result["workers"].append(phase)
        finally:
            stack.stop()
    base = result["workers"][0]["units_per_second"] if result["workers"] else 0
    for phase in result["workers"]:
        phase["speedup"] = round(phase["units_per_second"] / base, 2) if base else None


# -- report -------------------------------------------------------------------------------


def _table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(r):
        return "  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _endpoint_rows(endpoints: dict, order, cpu: dict | None = None) -> list[list]:
    rows = []
    for step in order:
        e = endpoints.get(step)
        if not e:
            continue
        row = [step, e["requests"], e["rps"], e["p50_ms"], e["p95_ms"], e["p99_ms"], e["errors"], e["store_calls_mean"]]
        if cpu is not None:
            row.append(cpu.get(step, ""))
        rows.append(row)
    return rows


# Issue 19's targets, next to what the code before it measured (docs/performance.md).
TARGETS = (
    ("CPU per flow, every process (ms)", 33, 67, lambda p, cpu: p["cpu_ms_per_unit"]),
    (
        "DynamoDB calls per flow, FranceConnect's path",
        8,
        13,
        lambda p, cpu: round(sum(e["store_calls_mean"] for e in p["endpoints"].values()), 2),
    ),
    (
        "the three OIDC functions' CPU per flow (ms)",
        15,
        27,
        lambda p, cpu: round(sum(cpu.get(f"fn:{f}", 0) for f in ("oidc_authorize", "oidc_token", "oidc_userinfo")), 2),
    ),
    ("notify's CPU per flow: the usager's e-mail (ms)", 3, 7.3, lambda p, cpu: cpu.get("fn:notify")),
)


def _targets(phase: dict) -> str:
    """Reported, never asserted: timings on a shared machine are not a test."""
    cpu = phase["cpu_ms_per_unit_by_process"]
    rows = []
    for name, target, before, measure in TARGETS:
        value = measure(phase, cpu)
        reached = "yes" if value is not None and value <= target else "no"
        rows.append([name, value, f"≤ {target}", before, reached])
    return "targets (issue 19)\n" + _table(rows, ["figure", "now", "target", "before", "reached"])


def report(result: dict) -> str:
    out = [
        f"# bench {result['name']} — commit {result['commit']}, {result['machine']['cpus']} cores, "
        f"load average at start {result['machine']['loadavg_start']}"
    ]
    header = ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "store calls"]
    for key, title in (("low_load", "one client (low load)"), ("flow", "concurrent clients")):
        phase = result.get(key)
        if not phase:
            continue
        out += [
            "",
            f"## whole flow, {title}: {phase['clients']} client(s), {phase['wall_seconds']} s, "
            f"{phase['units']} flows = {phase['units_per_second']} flows/s, errors {phase['errors']}, "
            f"load {phase['loadavg_before'][0]}→{phase['loadavg_after'][0]}",
            _table(_endpoint_rows(phase["endpoints"], FLOW_STEPS), header),
            f"CPU per flow, every process of the stack: {phase['cpu_ms_per_unit']} ms "
            f"= {phase['units_per_cpu_second']} flows/s per core",
            "  "
            + ", ".join(
                f"{k} {v}" for k, v in sorted(phase["cpu_ms_per_unit_by_process"].items(), key=lambda kv: -kv[1])
            ),
        ]
        if key == "flow":
            out += ["", _targets(phase)]
    alone = result.get("endpoints_alone")
    if alone:
        rows = []
        for step, phase in alone.items():
            e = phase["endpoints"].get(step, {})
            rows.append(
                [
                    step,
                    e.get("requests", 0),
                    e.get("rps", 0),
                    e.get("p50_ms"),
                    e.get("p95_ms"),
                    e.get("p99_ms"),
                    e.get("errors"),
                    e.get("store_calls_mean"),
                    phase["cpu_ms_per_unit"],
                ]
            )
        out += ["", "## each endpoint alone", _table(rows, header + ["CPU ms/req"])]
    if result.get("sizes"):
        rows = []
        for phase in result["sizes"]:
            e = phase["endpoints"]
            rows.append(
                [phase["background_usagers"], phase["load_seconds"]]
                + [f"{e.get(s, {}).get('p95_ms')}/{e.get(s, {}).get('store_calls_mean')}" for s in FLOW_STEPS]
                + [phase["cpu_ms_per_unit"]]
            )
        out += [
            "",
            "## growth with data (one client): p95 ms / DynamoDB calls per request",
            _table(rows, ["usagers", "load s", "authorize", "txn GET", "txn POST", "token", "userinfo", "CPU ms/flow"]),
        ]
    if result.get("workers"):
        rows = [
            [
                w["workers"],
                w["clients"],
                w["units"],
                w["units_per_second"],
                w["speedup"],
                w["errors"],
                w["cpu_ms_per_unit"],
                f"{w['loadavg_before'][0]}→{w['loadavg_after'][0]}",
            ]
            for w in result["workers"]
        ]
        out += [
            "",
            "## worker processes per hot function",
            _table(rows, ["workers", "clients", "flows", "flows/s", "× one", "errors", "CPU ms/flow", "load"]),
        ]
    if result.get("coldstart"):
        rows = [
            [fn, c["request"], c["status"], c["ms_to_first_answer"], c["cpu_ms"], c["loadavg"]]
            for fn, c in sorted(result["coldstart"].items(), key=lambda kv: -kv[1]["ms_to_first_answer"])
        ]
        out += [
            "",
            "## cold start: process start to first answer (median)",
            _table(rows, ["function", "first request", "status", "ms", "CPU ms", "load"]),
        ]
    if result.get("profile"):
        out += ["", "## py-spy: where the CPU goes (share of non-idle samples)"]
        for label, summary in result["profile"].items():
            out.append(
                f"{label} ({summary['samples']} samples) by library: "
                + ", ".join(f"{f} {p}%" for f, p in summary["by_library"][:10])
            )
            out.append("    inclusive: " + "; ".join(f"{f} {p}%" for f, p in summary["inclusive"][:8]))
            out.append("    self: " + "; ".join(f"{f} {p}%" for f, p in summary["self"][:6]))
    return "\n".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["outbox"]:
        from . import outbox

        return outbox.main(argv[1:])
    if argv[:1] == ["ab"]:
        from . import ab

        return ab.main(argv[1:])
    if argv[:1] == ["capacity"]:
        from . import capacity

        return capacity.main(argv[1:])
    args = _options(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "name": args.name,
        "commit": _git_commit(),
        "started_at": datetime.now(timezone.utc).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "options": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()},
    }
    started = time.monotonic()
    if args.parts & {"flow", "endpoints", "sizes", "coldstart"}:
        main_stack(args, result)
    if "workers" in args.parts:
        worker_stacks(args, result)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.monotonic() - started, 1)
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    text = report(result)
    print("\n" + text)
    png = plot.write(result, RESULTS / f"{args.name}.png") if "flow" in result else None
    print(
        f"\nwrote {path.relative_to(ROOT)}"
        + (f" and {png.relative_to(ROOT)}" if png else "")
        + f" in {result['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
