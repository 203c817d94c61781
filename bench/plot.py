"""One PNG per run: latency per endpoint, CPU per flow by process, cost against the
table's size, throughput against worker processes."""

from __future__ import annotations

from pathlib import Path

from .flow import FLOW_STEPS


def _short(step: str) -> str:
    return (
        step.replace("/api/fi/transactions/{txn}", "txn")
        .replace("/oidc/", "")
        .replace("GET ", "")
        .replace("POST ", "POST ")
        .replace("/.well-known/openid-configuration", "discovery")
    )


def write(result: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (bench/requirements.lock, make bench): no plot")
        return None
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(
        f"Aidants Connect on OpenFaaS — bench {result['name']} "
        f"({result['machine']['cpus']} cores, load {result['machine']['loadavg_start'][0]})"
    )

    # 1. latency per endpoint under the flow load
    ax = axes[0][0]
    flow = result["flow"]["endpoints"]
    steps = [s for s in FLOW_STEPS if s in flow]
    x = range(len(steps))
    for offset, q in ((-0.25, "p50_ms"), (0, "p95_ms"), (0.25, "p99_ms")):
        ax.bar([i + offset for i in x], [flow[s][q] for s in steps], width=0.25, label=q.replace("_ms", ""))
    ax.set_xticks(list(x), [_short(s) for s in steps], rotation=15)
    ax.set_ylabel("ms")
    ax.set_title(f"Latency, {result['flow']['clients']} concurrent FranceConnect clients")
    ax.legend()

    # 2. CPU per flow by process
    ax = axes[0][1]
    by = result["flow"]["cpu_ms_per_unit_by_process"]
    names = sorted(by, key=by.get, reverse=True)
    ax.barh(names, [by[n] for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("CPU ms per complete flow")
    ax.set_title(
        f"CPU per flow: {result['flow']['cpu_ms_per_unit']} ms "
        f"({result['flow']['units_per_cpu_second']} flows/s per core)"
    )

    # 3. growth with data
    ax = axes[1][0]
    sizes = result.get("sizes") or []
    if sizes:
        xs = [s["background_usagers"] for s in sizes]
        for step in steps:
            ax.plot(xs, [s["endpoints"].get(step, {}).get("p95_ms", 0) for s in sizes], marker="o", label=_short(step))
        ax.set_xscale("log")
        ax.set_xlabel("background usagers and mandates in the table")
        ax.set_ylabel("p95 ms (1 client)")
        twin = ax.twinx()
        per_flow = [sum(s["endpoints"].get(st, {}).get("store_calls_mean") or 0 for st in steps) for s in sizes]
        twin.plot(xs, per_flow, color="black", linestyle="--", marker="s", label="DynamoDB calls per flow")
        twin.set_ylabel("DynamoDB calls per flow")
        twin.set_ylim(0, max(per_flow + [1]) * 1.4)
        ax.legend(fontsize=7, loc="upper left")
        twin.legend(fontsize=7, loc="upper right")
    ax.set_title("Cost against the size of the table")

    # 4. workers
    ax = axes[1][1]
    workers = result.get("workers") or []
    if workers:
        ax.bar([str(w["workers"]) for w in workers], [w["units_per_second"] for w in workers])
        for i, w in enumerate(workers):
            ax.annotate(f"{w['units_per_second']}/s", (i, w["units_per_second"]), ha="center", va="bottom")
        ax.set_xlabel("worker processes per hot function (oidc_authorize, oidc_token, oidc_userinfo)")
        ax.set_ylabel("complete flows per second")
    ax.set_title("Throughput against worker processes (2 cores in all)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
