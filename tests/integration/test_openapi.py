"""``openapi.yaml`` describes every public route, and the live stack keeps to it.

* the routes of ``stack.yml`` and the operations of ``openapi.yaml`` are the same set;
* the gateway serves the file at ``/openapi.yaml``;
* schemathesis (property-based, from the description) sends valid and invalid
  requests to every operation, anonymous and as a logged-in référent: never a 5xx
  (``not_a_server_error``), and every answer's status, content type and body are
  the ones described. Bounded: a fixed seed, a few examples per operation, a time
  budget (about 2 minutes in all). Its first run found paths with a newline
  answered 500 by the local runtime (now a 404, see test_hostile_input.py).
  It runs on this module's own stack, so the data it makes up never meets
  another test's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from local import stack as stack_yml
from tests.conftest import Stack, _reset_shared_caches

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
SEED = 20261124


SANDBOX_TAGS = ("sandbox", "sandbox-standins")  # the training sandbox's stack only


def described_routes(sandbox_only: bool | None = None) -> set[tuple[str, str]]:
    """The described operations; ``sandbox_only``: only those tagged for the sandbox's
    stack (True), only the others (False), all (None)."""
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    return {
        (method.upper(), path)
        for path, item in paths.items()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch")
        and (sandbox_only is None or bool(set(op.get("tags", [])) & set(SANDBOX_TAGS)) == sandbox_only)
    }


def test_every_route_of_stack_yml_is_described_and_nothing_else():
    declared = {(method, route.path) for route in stack_yml.routes() for method in route.methods}
    described = described_routes(sandbox_only=False)
    assert declared - described == set(), "in stack.yml, missing from openapi.yaml"
    assert described - declared == set(), "in openapi.yaml, not a route of stack.yml"


def test_every_route_of_the_sandbox_stack_is_described_and_its_own_are_tagged_so():
    declared = {(method, route.path) for route in stack_yml.routes(profile="sandbox") for method in route.methods}
    production = {(method, route.path) for route in stack_yml.routes() for method in route.methods}
    assert declared == described_routes() - (production - declared)
    assert declared - production == described_routes(sandbox_only=True)


def test_the_description_is_valid_openapi_3():
    from openapi_spec_validator import validate

    validate(yaml.safe_load(SPEC.read_text()))


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    from local import launcher

    saved_env = dict(os.environ)
    running = launcher.start(tmp_path_factory.mktemp("fuzz-stack"), env={"LOCAL_CRON_SECONDS": "0"})
    stack = Stack(running.url, running.state, running.env, running.process, running.seed())
    try:
        yield stack
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


def test_the_gateway_serves_the_description(fuzz_stack):
    r = requests.get(fuzz_stack.url + "/openapi.yaml", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(r.text) == yaml.safe_load(SPEC.read_text())


def _schemathesis(stack, tmp_path: Path, seconds: int, *args: str) -> subprocess.CompletedProcess:
    # One worker: schemathesis' workers are threads, and with several of them
    # hypothesis' ast.parse of its own lambdas hits CPython 3.11's thread-unsafe AST
    # recursion counter (gh-106905: "AST constructor recursion depth mismatch"), a
    # random runtime error of the fuzzer, not of the service.
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        stack.url + "/openapi.yaml",
        "--url",
        stack.url,
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,fuzzing",
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--no-shrink",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--max-time",
        str(seconds),
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *args,
    ]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )


def _referent_cookie(stack) -> str:
    structure_id = stack.new_structure("Structure fuzzée")
    email = stack.new_aidant(structure_id, referent_of=[structure_id])
    session = stack.login(requests.Session(), email)
    return session.cookies["ac_session"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_every_answer_as_described(fuzz_stack, tmp_path):
    cookie = _referent_cookie(fuzz_stack)
    # Logged in, every operation but logout (which would end the session midway):
    # some 3 000 requests on an idle 2-core machine.
    logged_in = _schemathesis(
        fuzz_stack,
        tmp_path / "logged-in",
        75,
        "-H",
        f"Cookie: ac_session={cookie}",
        "--exclude-path",
        "/api/logout",
        *[a for tag in SANDBOX_TAGS for a in ("--exclude-tag", tag)],
    )
    # Anonymous: what a stranger reaches (the OIDC endpoints, login, public forms, logout).
    anonymous = _schemathesis(
        fuzz_stack,
        tmp_path / "anonymous",
        35,
        "--include-tag",
        "oidc",
        "--include-tag",
        "login",
        "--include-tag",
        "habilitation",
    )
    for run in (logged_in, anonymous):
        assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
        # The time budget must not have cut the run short: every selected operation was
        # sent requests, and there were many.
        selected = re.search(r"Selected: (\d+)/\d+", run.stdout)
        tested = re.search(r"Tested: (\d+)", run.stdout)
        cases = re.search(r"(\d+) generated", run.stdout)
        assert selected and tested and cases, run.stdout[-3000:]
        assert tested[1] == selected[1] and int(selected[1]) >= 20, run.stdout[-3000:]
        assert int(cases[1]) >= 10 * int(tested[1]), run.stdout[-3000:]
        print(f"schemathesis: {tested[1]} operations, {cases[1]} test cases")
