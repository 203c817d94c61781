"""``python -m bench capacity --peak FLOWS_PER_S``: a capacity plan from a bench run.

Reads a results file of ``python -m bench`` (default: the newest in bench/results/)
and sizes production for a given rate of FranceConnect flows (authorize → transaction
→ choice → token → userinfo, plus the usager's e-mail notify sends for each):

* per function: requests per flow (the functions' own access lines, so the
  asynchronous ``notify`` counts too), CPU per flow and per request (from /proc),
  hence the cores at the peak, the replicas at a target utilisation of each
  replica's CPU request, and the ``com.openfaas.scale.min/max/target`` labels that
  follow (``min`` for the normal day, ``max`` for the peak with headroom); the memory
  each replica held (RSS) for its requests and limits;
* DynamoDB: read and write units per flow as DynamoDB itself counted them
  (``ReturnConsumedCapacity=TOTAL`` on every call of the run, STORE_MEASURE_CAPACITY),
  the units per second at the peak, and the on-demand cost per million flows at the
  prices given (defaults and their source below);
* e-mail: the rate at the peak (per flow, plus logins and mandates per hour), against
  what the asynchronous path delivers (the queue-worker's ``max_inflight`` over one
  SMTP exchange's duration);
* the first bottleneck: the flows per second at which each resource saturates,
  lowest first.

Every figure the run did not measure is a parameter with its default printed.
docs/capacity.md explains the assumptions of a normal day and a tax-season peak.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from local import stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# DynamoDB on-demand, Standard table class, USD per million request units: the
# published us-east-1 prices since the on-demand price cut of 1 November 2024
# (aws.amazon.com/dynamodb/pricing/on-demand/). eu-west-3 (Paris) is priced higher;
# its figures could not be read from the sources at hand when this was written
# (2026-11-30): pass them with --read-price/--write-price.
READ_PRICE = 0.125
WRITE_PRICE = 0.625
PRICE_SOURCE = "us-east-1 on-demand, Standard table class, since 2024-11-01 (aws.amazon.com/dynamodb/pricing/on-demand)"
# What a new on-demand table serves at once (DynamoDB developer guide, "On-demand
# capacity mode": up to 4,000 write and 12,000 read request units per second before
# it has seen a higher peak; it then doubles its previous peak within 30 minutes).
ON_DEMAND_INITIAL_WRITES = 4000
ON_DEMAND_INITIAL_READS = 12000
# shared/config.py's default for OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE: FranceConnect is
# one client, so every flow counts against this one bound.
AUTHORIZE_PER_CLIENT_PER_MINUTE = 600


@dataclass
class Assumptions:
    peak: float  # FranceConnect flows per second at the busiest minute
    normal: float  # … on a normal day's busiest hour (sizes scale.min)
    target_utilisation: float = 0.6  # of a replica's CPU request, at which to add one
    cpu_request: float = 0.1  # cores a replica is guaranteed (Kubernetes request): a quiet replica uses less
    cpu_limit: float = 1.0  # one Python process uses at most about one core (the GIL)
    headroom: float = 2.0  # scale.max = replicas at the peak × this (a surge, another CPU than the bench's)
    threads: int = 4  # waitress's, per replica
    logins_per_hour: float = 0.0  # at the peak; each sends a login link
    mandates_per_hour: float = 0.0  # at the peak; each sends the usager a confirmation
    normal_logins_per_hour: float | None = None  # default: the peak's, scaled as the flows
    normal_mandates_per_hour: float | None = None

    def other_emails(self, rate: float) -> float:
        """E-mails a second besides the flows' (login links, mandate confirmations)."""
        if rate >= self.peak:
            return (self.logins_per_hour + self.mandates_per_hour) / 3600
        scale = rate / self.peak if self.peak else 0.0
        logins = (
            self.normal_logins_per_hour if self.normal_logins_per_hour is not None else self.logins_per_hour * scale
        )
        mandates = (
            self.normal_mandates_per_hour
            if self.normal_mandates_per_hour is not None
            else self.mandates_per_hour * scale
        )
        return (logins + mandates) / 3600

    smtp_seconds: float = 0.5  # one delivery: connect, STARTTLS, AUTH, send, quit
    queue_inflight: int = 1  # OpenFaaS queue-worker max_inflight (its default)
    read_price: float = READ_PRICE
    write_price: float = WRITE_PRICE


@dataclass
class FunctionPlan:
    name: str
    requests_per_flow: float
    cpu_ms_per_flow: float
    cpu_ms_per_request: float | None
    service_ms: float | None  # one request's time at low load (median of its slowest route)
    rss_mb: float | None
    cores_at_peak: float
    replicas_normal: int
    replicas_peak: int
    scale_min: int
    scale_max: int
    rps_per_replica: int | None  # com.openfaas.scale.target for type rps
    memory_request_mb: int | None
    memory_limit_mb: int | None
    current: dict = field(default_factory=dict)  # stack.yml's labels today
    saturates_at: float | None = None  # flows/s with stack.yml's max replicas at their CPU limit


@dataclass
class IdleFunction:
    """A function the flow does not use: no CPU figure, its memory from the run."""

    name: str
    rss_mb: float | None
    memory_request_mb: int | None
    memory_limit_mb: int | None
    current: dict = field(default_factory=dict)


@dataclass
class Plan:
    source: str
    commit: str
    assumptions: Assumptions
    measured_flows: int
    measured_flows_per_second: float
    functions: list[FunctionPlan]
    read_units_per_flow: float
    write_units_per_flow: float
    unmeasured_calls_per_flow: float
    emails_per_flow: float
    email_rate_normal: float
    email_rate_peak: float
    email_async_capacity: float
    queue_inflight_needed: int  # for the peak's e-mails to leave as they come
    bottlenecks: list[tuple[str, float]]
    idle_functions: list["IdleFunction"]

    @property
    def cores_at_peak(self) -> float:
        return round(sum(f.cores_at_peak for f in self.functions), 3)

    @property
    def cost_per_million_flows(self) -> float:
        a = self.assumptions
        return self.read_units_per_flow * a.read_price + self.write_units_per_flow * a.write_price


# -- reading a run ------------------------------------------------------------------------


def newest_results(folder: Path = RESULTS) -> Path:
    found = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no results in {folder}: run `python -m bench --quick` first")
    return found[-1]


def _step_function(step: str, functions: dict[str, stack.Function]) -> str | None:
    """The deployed function serving a bench step (``GET /api/fi/transactions/{txn}``)."""
    method, path = step.split(" ", 1)
    sample = re.sub(r"\{\w+\}", "x1", path)
    for fn in functions.values():
        for route in fn.routes:
            if method in route.methods and route.regex.match(sample):
                return fn.name
    return None


def _ceil(value: float) -> int:
    return int(math.ceil(value - 1e-9))


def _memory(rss_mb: float | None) -> tuple[int | None, int | None]:
    """Request: the measured RSS plus a quarter, rounded up to 32 MiB; limit: twice that
    (a replica's caches grow with keys and connections; the kernel kills at the limit)."""
    if not rss_mb:
        return None, None
    request = 32 * _ceil(rss_mb * 1.25 / 32)
    return request, 2 * request


def plan(
    result: dict, assumptions: Assumptions, functions: dict[str, stack.Function] | None = None, source: str = ""
) -> Plan:
    functions = functions if functions is not None else stack.functions()
    phase = result.get("flow")
    if not phase or not phase.get("units"):
        raise ValueError("the results have no completed flow phase (run `python -m bench` with its flow part)")
    flows = phase["units"]
    by_folder = {fn.folder: fn for fn in functions.values()}
    cpu = {key[3:]: value for key, value in phase["cpu_ms_per_unit_by_process"].items() if key.startswith("fn:")}
    rss = {key[3:]: value for key, value in (phase.get("rss_mb_by_process") or {}).items() if key.startswith("fn:")}
    server = phase.get("server") or {}
    # Requests per flow: the functions' own count when the run has it, else the clients'.
    requests: dict[str, float] = {name: entry["requests_per_unit"] for name, entry in server.items()}
    low = (result.get("low_load") or phase)["endpoints"]
    service: dict[str, float] = {}
    for step, figures in phase["endpoints"].items():
        name = _step_function(step, functions)
        if name is None:
            continue
        if name not in server:
            requests[name] = requests.get(name, 0.0) + figures["requests"] / flows
        # Little's law wants the mean time a request holds a thread: the median at low
        # load (the concurrent phase's times include the bench machine's own queueing).
        p50 = (low.get(step) or figures).get("p50_ms")
        if p50:
            service[name] = max(service.get(name, 0.0), p50)
    a = assumptions
    notify = _notify_name(functions)
    loaded_rss = max(
        (
            rss.get(folder, 0.0)
            for folder in cpu
            if (requests.get(by_folder[folder].name) or 0) > 0 and folder in by_folder
        ),
        default=0.0,
    )
    planned, idle = [], []
    for folder, cpu_ms in sorted(cpu.items(), key=lambda kv: -kv[1]):
        fn = by_folder.get(folder)
        if fn is None:
            continue
        per_flow = requests.get(fn.name, 0.0)
        if not per_flow:
            continue  # served nothing of the flow (a stray scheduled call): not measured
        per_request = cpu_ms / per_flow
        svc = service.get(fn.name)
        is_notify = fn.name == notify
        if is_notify:
            svc = a.smtp_seconds * 1000  # an asynchronous delivery holds a thread for its SMTP exchange

        def replicas(rate: float, per_flow=per_flow, is_notify=is_notify, per_request=per_request, svc=svc) -> int:
            # notify also sends the login links and mandate confirmations.
            requests_per_second = rate * per_flow + (a.other_emails(rate) if is_notify else 0.0)
            cpu_bound = requests_per_second * per_request / 1000 / (a.target_utilisation * a.cpu_request)
            busy = requests_per_second * (svc or 0) / 1000 / (a.threads * a.target_utilisation)
            return max(1, _ceil(cpu_bound), _ceil(busy))

        floor = 2 if any(r.path.startswith("/oidc/") for r in fn.routes) else 1  # FranceConnect calls them
        normal, peak = replicas(a.normal), replicas(a.peak)
        scale_min = max(floor, normal)
        scale_max = max(scale_min, _ceil(peak * a.headroom))
        labels = fn.labels
        current_max = int(labels.get("com.openfaas.scale.max", 1))
        memory = _memory(max(rss.get(folder, 0.0), loaded_rss))
        planned.append(
            FunctionPlan(
                name=fn.name,
                requests_per_flow=round(per_flow, 3),
                cpu_ms_per_flow=round(cpu_ms, 2),
                cpu_ms_per_request=round(per_request, 2),
                service_ms=round(svc, 1) if svc else None,
                rss_mb=rss.get(folder),
                cores_at_peak=round(
                    (a.peak * per_flow + (a.other_emails(a.peak) if is_notify else 0.0)) * per_request / 1000, 3
                ),
                replicas_normal=normal,
                replicas_peak=peak,
                scale_min=scale_min,
                scale_max=scale_max,
                rps_per_replica=int(a.target_utilisation * a.cpu_request * 1000 / per_request),
                memory_request_mb=memory[0],
                memory_limit_mb=memory[1],
                current={k.rsplit(".", 1)[1]: v for k, v in labels.items() if k.startswith("com.openfaas.scale.")},
                saturates_at=round(current_max * a.cpu_limit * 1000 / cpu_ms, 1) if cpu_ms else None,
            )
        )
    reads = sum(entry.get("read_units_per_unit") or 0 for entry in server.values())
    writes = sum(entry.get("write_units_per_unit") or 0 for entry in server.values())
    unmeasured = sum(entry.get("unmeasured_calls", 0) for entry in server.values()) / flows
    if not server:  # an older run: the clients' headers (the asynchronous calls missed)
        reads = sum((e.get("read_units_mean") or 0) * e["requests"] / flows for e in phase["endpoints"].values())
        writes = sum((e.get("write_units_mean") or 0) * e["requests"] / flows for e in phase["endpoints"].values())
    emails_per_flow = (server.get(notify) or {}).get("requests_per_unit") or 0.0
    measured = {p.name for p in planned}
    for fn in functions.values():
        if fn.name not in measured:
            own = rss.get(fn.folder)
            idle.append(
                IdleFunction(
                    fn.name,
                    own,
                    *_memory(max(own or 0.0, loaded_rss)),
                    current={
                        k.rsplit(".", 1)[1]: v for k, v in fn.labels.items() if k.startswith("com.openfaas.scale.")
                    },
                )
            )
    others = a.other_emails(a.peak)
    async_capacity = a.queue_inflight / a.smtp_seconds
    bottlenecks = [
        (f"{p.name} CPU at its max of {p.current.get('max', '?')} replicas", p.saturates_at)
        for p in planned
        if p.saturates_at
    ]
    if emails_per_flow:
        bottlenecks.append(
            (
                f"e-mail: queue-worker max_inflight {a.queue_inflight} × one SMTP delivery of {a.smtp_seconds} s",
                round(max(0.0, async_capacity - others) / emails_per_flow, 1),
            )
        )
    if writes:
        bottlenecks.append(
            ("DynamoDB: a new on-demand table's first 4,000 write units/s", round(ON_DEMAND_INITIAL_WRITES / writes, 1))
        )
    if reads:
        bottlenecks.append(
            ("DynamoDB: a new on-demand table's first 12,000 read units/s", round(ON_DEMAND_INITIAL_READS / reads, 1))
        )
    authorize = next((fn for fn in functions.values() if any(r.path == "/oidc/authorize" for r in fn.routes)), None)
    if authorize is not None:
        limit = int(authorize.environment.get("OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE", AUTHORIZE_PER_CLIENT_PER_MINUTE))
        bottlenecks.append(
            (f"OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE {limit} (FranceConnect is one client)", round(limit / 60, 1))
        )
    bottlenecks.sort(key=lambda b: b[1])
    return Plan(
        source=source,
        commit=str(result.get("commit", "?")),
        assumptions=a,
        measured_flows=flows,
        measured_flows_per_second=phase.get("units_per_second", 0.0),
        functions=planned,
        read_units_per_flow=round(reads, 3),
        write_units_per_flow=round(writes, 3),
        unmeasured_calls_per_flow=round(unmeasured, 3),
        emails_per_flow=round(emails_per_flow, 3),
        email_rate_normal=round(a.normal * emails_per_flow + a.other_emails(a.normal), 2),
        email_rate_peak=round(a.peak * emails_per_flow + others, 2),
        email_async_capacity=round(async_capacity, 2),
        queue_inflight_needed=max(
            1, _ceil((a.peak * emails_per_flow + others) * a.smtp_seconds / a.target_utilisation)
        ),
        bottlenecks=bottlenecks,
        idle_functions=idle,
    )


def _notify_name(functions: dict[str, stack.Function]) -> str:
    return next((fn.name for fn in functions.values() if fn.folder == "notify"), "notify")


# -- the report ---------------------------------------------------------------------------


def _table(rows: list[list], header: list[str]) -> str:
    cells = [[("" if x is None else str(x)) for x in row] for row in [header] + rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(r, widths)))

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def report(p: Plan) -> str:
    a = p.assumptions
    out = [
        f"# capacity plan from {p.source or 'a bench run'} (commit {p.commit}): "
        f"{p.measured_flows} flows measured at {p.measured_flows_per_second} flows/s",
        f"peak {a.peak} flows/s, normal {a.normal} flows/s; a replica: {a.cpu_request} core requested, "
        f"{a.cpu_limit} core limit, {a.threads} threads, added at {round(a.target_utilisation * 100)} % of its "
        f"request; max = peak replicas × {a.headroom}",
        "",
        "## functions",
    ]
    rows = [
        [
            f.name,
            f.requests_per_flow,
            f.cpu_ms_per_flow,
            f.cpu_ms_per_request,
            f.service_ms,
            f.cores_at_peak,
            f.replicas_normal,
            f.replicas_peak,
            f"{f.scale_min}/{f.scale_max} (now {f.current.get('min', '?')}/{f.current.get('max', '?')})",
            f.rps_per_replica,
            f.rss_mb,
            f"{f.memory_request_mb}/{f.memory_limit_mb}" if f.memory_request_mb else None,
        ]
        for f in p.functions
    ]
    out.append(
        _table(
            rows,
            [
                "function",
                "req/flow",
                "CPU ms/flow",
                "CPU ms/req",
                "service ms",
                "cores@peak",
                "repl normal",
                "repl peak",
                "scale min/max",
                "rps/replica",
                "RSS MiB",
                "mem req/limit MiB",
            ],
        )
    )
    out.append(
        f"our functions' CPU at the peak: {p.cores_at_peak} cores (the OpenFaaS gateway, the ingress "
        f"and the queue-worker come on top: not measured here)"
    )
    if p.idle_functions:
        out += ["", "not in the flow (no CPU figure: sized by their labels; memory as the loaded functions')"]
        out.append(
            _table(
                [
                    [
                        f.name,
                        f.rss_mb,
                        f"{f.memory_request_mb}/{f.memory_limit_mb}",
                        f"{f.current.get('min', '?')}/{f.current.get('max', '?')}",
                    ]
                    for f in p.idle_functions
                ],
                ["function", "RSS MiB idle", "mem req/limit MiB", "scale min/max now"],
            )
        )
    out += [
        "",
        "## DynamoDB (on-demand)",
        f"per flow: {p.read_units_per_flow} read units, {p.write_units_per_flow} write units "
        f"(ReturnConsumedCapacity=TOTAL; {p.unmeasured_calls_per_flow} failed calls per flow not counted)",
        f"at the peak: {round(a.peak * p.read_units_per_flow, 1)} read units/s, "
        f"{round(a.peak * p.write_units_per_flow, 1)} write units/s",
        f"cost per million flows: ${p.cost_per_million_flows:.2f} "
        f"(${a.read_price} per million read units, ${a.write_price} per million write units: {PRICE_SOURCE})",
        "",
        "## e-mail",
        f"{p.emails_per_flow} e-mails per flow (notify's invocations); plus, at the peak, "
        f"{a.logins_per_hour:g} logins and {a.mandates_per_hour:g} mandates an hour "
        f"({round(a.other_emails(a.normal) * 3600)} an hour on the normal day)",
        f"rate: {p.email_rate_normal}/s normal, {p.email_rate_peak}/s at the peak "
        f"({round(p.email_rate_peak * 3600)}/h); the asynchronous path delivers {p.email_async_capacity}/s "
        f"(queue-worker max_inflight {a.queue_inflight} / {a.smtp_seconds} s per delivery); the peak needs "
        f"max_inflight {p.queue_inflight_needed}",
        "",
        "## first bottleneck (flows/s at which each saturates)",
    ]
    out.append(_table([[name, rate] for name, rate in p.bottlenecks], ["resource", "flows/s"]))
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--peak", type=float, required=True, help="FranceConnect flows per second at the peak")
    parser.add_argument("--normal", type=float, help="flows per second on a normal day (default: peak / 10)")
    parser.add_argument("--results", help="a results file (default: the newest in bench/results/)")
    defaults = Assumptions(peak=0, normal=0)
    for name, help_text in (
        ("target_utilisation", "of a replica's CPU request"),
        ("cpu_request", "cores requested per replica"),
        ("cpu_limit", "cores per replica at most"),
        ("headroom", "scale.max over the peak's replicas"),
        ("threads", "waitress threads"),
        ("logins_per_hour", "login links e-mailed"),
        ("mandates_per_hour", "mandates signed"),
        ("smtp_seconds", "one SMTP delivery"),
        ("queue_inflight", "queue-worker max_inflight"),
        ("read_price", "USD per million read units"),
        ("write_price", "USD per million write units"),
    ):
        default = getattr(defaults, name)
        parser.add_argument(
            "--" + name.replace("_", "-"), type=type(default), default=default, help=f"{help_text} (default {default})"
        )
    parser.add_argument("--normal-logins-per-hour", type=float, help="default: the peak's, scaled as the flows")
    parser.add_argument("--normal-mandates-per-hour", type=float, help="default: the peak's, scaled as the flows")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(argv)
    path = Path(args.results) if args.results else newest_results()
    result = json.loads(path.read_text())
    assumptions = Assumptions(**{k: v for k, v in vars(args).items() if k in Assumptions.__dataclass_fields__})
    assumptions.normal = args.normal if args.normal is not None else round(args.peak / 10, 3)
    try:
        p = plan(result, assumptions, source=str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**asdict(p), "cost_per_million_flows": round(p.cost_per_million_flows, 2)}, indent=2))
    else:
        print(report(p))
    return 0
