"""`python -m bench capacity`: the plan's arithmetic, on a made-up bench result whose
figures make each expected value plain."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import capacity
from local import stack

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = stack.functions()


def _result(flows=100, **overrides):
    """A flow phase of 100 flows: authorize 3 requests, token 1, userinfo 1, notify 1."""
    phase = {
        "units": flows,
        "units_per_second": 5.0,
        "cpu_ms_per_unit_by_process": {
            "fn:oidc_authorize": 100.0,
            "fn:oidc_token": 20.0,
            "fn:oidc_userinfo": 10.0,
            "fn:notify": 15.0,
            "gateway": 9.0,
        },
        "rss_mb_by_process": {"fn:oidc_authorize": 80.0, "fn:oidc_token": 90.0},
        "server": {
            "oidc-authorize": {
                "requests_per_unit": 3.0,
                "read_units_per_unit": 2.0,
                "write_units_per_unit": 3.0,
                "unmeasured_calls": 0,
            },
            "oidc-token": {
                "requests_per_unit": 1.0,
                "read_units_per_unit": 1.5,
                "write_units_per_unit": 4.0,
                "unmeasured_calls": 0,
            },
            "oidc-userinfo": {
                "requests_per_unit": 1.0,
                "read_units_per_unit": 1.0,
                "write_units_per_unit": 0.0,
                "unmeasured_calls": 0,
            },
            "notify": {
                "requests_per_unit": 1.0,
                "read_units_per_unit": 0.5,
                "write_units_per_unit": 2.0,
                "unmeasured_calls": 0,
            },
        },
        "endpoints": {
            "GET /oidc/authorize": {"requests": 100, "p50_ms": 20.0},
            "GET /api/fi/transactions/{txn}": {"requests": 100, "p50_ms": 40.0},
            "POST /api/fi/transactions/{txn}": {"requests": 100, "p50_ms": 30.0},
            "POST /oidc/token": {"requests": 100, "p50_ms": 35.0},
            "GET /oidc/userinfo": {"requests": 100, "p50_ms": 25.0},
        },
    }
    phase.update(overrides)
    return {"commit": "abc1234", "flow": phase}


def _plan(result=None, **assumed):
    defaults = dict(peak=6.0, normal=0.6, target_utilisation=0.6, cpu_request=0.25, headroom=1.5)
    return capacity.plan(result or _result(), capacity.Assumptions(**{**defaults, **assumed}), FUNCTIONS)


def _by_name(plan):
    return {f.name: f for f in plan.functions}


def test_replicas_are_the_cores_at_the_peak_over_each_replicas_share_at_target():
    plan = _by_name(_plan())
    authorize = plan["oidc-authorize"]
    # 6 flows/s × 100 ms = 0.6 cores; a replica is kept at 0.6 × 0.25 = 0.15 core: 4 replicas.
    assert authorize.cores_at_peak == 0.6 and authorize.replicas_peak == 4
    assert authorize.cpu_ms_per_request == pytest.approx(100 / 3, abs=0.01)


def test_a_slow_service_time_needs_threads_as_well_as_cpu():
    # 1 flow/s × 3 requests × 2 s each = 6 requests in flight; 4 threads at 60 %: 3 replicas,
    # whatever little CPU they use.
    result = _result()
    for step in result["flow"]["endpoints"].values():
        step["p50_ms"] = 2000.0
    plan = _by_name(_plan(result, peak=1.0, normal=0.1))
    assert plan["oidc-authorize"].replicas_peak == 3


def test_labels_min_from_the_normal_day_max_from_the_peak_with_headroom():
    plan = _by_name(_plan())
    authorize, notify = plan["oidc-authorize"], plan["notify"]
    assert authorize.scale_min == 2  # FranceConnect's functions never run on one replica
    assert authorize.scale_max == 6  # 4 at the peak × 1.5
    assert notify.scale_min == 1


def test_the_rps_target_is_what_one_replica_serves_at_target_utilisation():
    token = _by_name(_plan())["oidc-token"]
    # 20 ms per request; 0.15 core = 150 ms of CPU per second: 7 requests per second.
    assert token.rps_per_replica == 7


def test_memory_request_is_the_largest_loaded_rss_with_a_quarter_more_in_32_mib_steps():
    # Every function carries the same libraries: one that served nothing in the run
    # would grow as the loaded ones did. The largest RSS is 90 MiB: 112.5, so 128 MiB.
    plan = _plan()
    functions = _by_name(plan)
    assert (functions["oidc-authorize"].memory_request_mb, functions["oidc-authorize"].memory_limit_mb) == (128, 256)
    assert functions["oidc-userinfo"].memory_request_mb == 128  # its own RSS not measured
    idle = {f.name: f for f in plan.idle_functions}
    assert "otp-verify" in idle and idle["otp-verify"].memory_request_mb == 128


def test_notify_also_carries_the_login_links_and_mandate_confirmations():
    quiet = _by_name(_plan())["notify"]
    busy = _by_name(_plan(logins_per_hour=36000))["notify"]  # 10 more e-mails a second
    assert busy.cores_at_peak > quiet.cores_at_peak and busy.replicas_peak > quiet.replicas_peak


def test_dynamodb_units_per_flow_sum_every_function_the_asynchronous_one_included():
    plan = _plan()
    assert plan.read_units_per_flow == 5.0 and plan.write_units_per_flow == 9.0
    assert plan.cost_per_million_flows == pytest.approx(5.0 * capacity.READ_PRICE + 9.0 * capacity.WRITE_PRICE)


def test_the_email_rate_and_when_the_asynchronous_path_saturates():
    plan = _plan(logins_per_hour=3600, mandates_per_hour=0, smtp_seconds=0.5, queue_inflight=1)
    assert plan.emails_per_flow == 1.0
    assert plan.email_rate_peak == 7.0  # 6 flows/s + one login a second
    assert plan.email_async_capacity == 2.0
    (email,) = [rate for name, rate in plan.bottlenecks if name.startswith("e-mail")]
    assert email == 1.0  # 2 e-mails/s, one taken by logins: one flow a second


def test_bottlenecks_come_lowest_first():
    rates = [rate for _, rate in _plan().bottlenecks]
    assert rates == sorted(rates) and len(rates) >= 3


def test_the_command_reads_a_results_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_result()))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "capacity", "--peak", "6", "--results", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "oidc-authorize" in done.stdout and "cost per million flows" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "bench", "capacity", "--peak", "6", "--results", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["assumptions"]["normal"] == 0.6


def test_a_run_without_a_flow_phase_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"commit": "x", "endpoints_alone": {}}))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "capacity", "--peak", "6", "--results", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "flow phase" in done.stderr


def test_the_per_client_authorization_bound_is_a_bottleneck_at_its_configured_value(monkeypatch):
    from shared import config

    monkeypatch.delenv("OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE", raising=False)
    config.reset_caches()
    assert capacity.AUTHORIZE_PER_CLIENT_PER_MINUTE == config.settings().oidc_authorize_per_client_per_minute
    configured = next(fn for fn in FUNCTIONS.values() if any(r.path == "/oidc/authorize" for r in fn.routes))
    limit = int(
        configured.environment.get("OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE", capacity.AUTHORIZE_PER_CLIENT_PER_MINUTE)
    )
    (rate,) = [rate for name, rate in _plan().bottlenecks if name.startswith("OIDC_AUTHORIZE_PER_CLIENT")]
    assert rate == round(limit / 60, 1)


def test_the_bench_report_sets_each_issue_19_target_beside_its_figure():
    from bench.__main__ import _targets

    phase = {
        "cpu_ms_per_unit": 50.8,
        "endpoints": {step: {"store_calls_mean": n} for step, n in (("a", 1), ("b", 2), ("c", 2), ("d", 2), ("e", 1))},
        "cpu_ms_per_unit_by_process": {
            "fn:oidc_authorize": 12.6,
            "fn:oidc_token": 5.8,
            "fn:oidc_userinfo": 2.8,
            "fn:notify": 4.7,
            "dynamodb-local": 18.4,
        },
    }
    lines = {line.split("  ")[0]: line.split() for line in _targets(phase).splitlines()[3:]}
    assert lines["CPU per flow, every process (ms)"][-5:] == ["50.8", "≤", "33", "67", "no"]
    assert lines["DynamoDB calls per flow, FranceConnect's path"][-5:] == ["8", "≤", "8", "13", "yes"]
    assert lines["the three OIDC functions' CPU per flow (ms)"][-5:] == ["21.2", "≤", "15", "27", "no"]
    assert lines["notify's CPU per flow: the usager's e-mail (ms)"][-5:] == ["4.7", "≤", "3", "7.3", "no"]
