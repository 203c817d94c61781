"""Alternating A/B runs of the whole flow: ``python -m bench ab --root OTHER_CHECKOUT``.

The machine is shared and its load moves, so one run of each side says little:
this runs the flow phase (``python -m bench --only flow``) alternately in the other
checkout (A, "before") and in this one (B, "after"), each on a fresh stack, and
prints one line per run with the load average: CPU per flow from /proc (the figure
least sensitive to load), flows/s, DynamoDB calls per flow, and where the CPU went.

    python -m bench ab --root /tmp/before --runs 3            # --quick phases (~40 s a run)
    python -m bench ab --root /tmp/before --runs 2 -- --clients 4 --duration 60

Each side runs its own ``bench`` (its own stack code and flow); results stay in
each checkout's ``bench/results/ab-<A|B>-<n>.json`` and are summed up in
``bench/results/<name>.json`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Processes grouped as docs/performance.md reports them.
GROUPS = {
    "OIDC functions": ("fn:oidc_authorize", "fn:oidc_token", "fn:oidc_userinfo"),
    "notify": ("fn:notify",),
    "DynamoDB Local": ("dynamodb-local",),
    "gateway": ("gateway",),
    "SMTP sink": ("smtp-sink",),
}


def _run(root: Path, name: str, extra: list[str]) -> dict:
    args = [sys.executable, "-m", "bench", "--only", "flow", "--name", name, *(extra or ["--quick"])]
    subprocess.run(args, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, check=True, stdout=subprocess.DEVNULL)
    return json.loads((root / "bench" / "results" / f"{name}.json").read_text())


def summary(result: dict) -> dict:
    flow = result["flow"]
    by = flow["cpu_ms_per_unit_by_process"]
    out = {
        "commit": result["commit"],
        "load": [flow["loadavg_before"][0], flow["loadavg_after"][0]],
        "flows_per_s": flow["units_per_second"],
        "cpu_ms_per_flow": flow["cpu_ms_per_unit"],
        "store_calls_per_flow": round(sum(e.get("store_calls_mean") or 0 for e in flow["endpoints"].values()), 2),
        "errors": flow["errors"],
    }
    for group, names in GROUPS.items():
        out[group] = round(sum(by.get(n, 0) for n in names), 2)
    out["by_process"] = by
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="the other checkout (A, run first)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs")
    parser.add_argument("--name", default=f"ab-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("bench_args", nargs="*", help="after --: arguments of python -m bench (default --quick)")
    args = parser.parse_args(argv)
    sides = {"A": Path(args.root).resolve(), "B": ROOT}
    rows = []
    for run in range(1, args.runs + 1):
        for label, root in sides.items():
            row = {"side": label, "run": run, **summary(_run(root, f"ab-{label}-{run}", args.bench_args))}
            rows.append(row)
            print(
                f"{label}{run} {row['commit']} load {row['load'][0]}→{row['load'][1]}: "
                f"{row['cpu_ms_per_flow']} ms CPU/flow, {row['flows_per_s']} flows/s, "
                f"{row['store_calls_per_flow']} calls/flow, " + ", ".join(f"{g} {row[g]}" for g in GROUPS),
                flush=True,
            )
    for label in sides:
        mine = [r["cpu_ms_per_flow"] for r in rows if r["side"] == label]
        print(f"{label}: CPU ms per flow median {statistics.median(mine)} (runs {mine})")
    out = ROOT / "bench" / "results" / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"a": str(sides["A"]), "b": str(sides["B"]), "runs": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
