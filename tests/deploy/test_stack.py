"""stack.yml deploys with `faas-cli up -f stack.yml`: every function is declared,
complete, built from the pinned template, scaled and sized as docs/capacity.md's plan
says, and reachable by routes that cannot collide."""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from deploy import context, imports, requirements, secrets, template_pin
from local import stack

ROOT = stack.ROOT
RAW = yaml.safe_load((ROOT / "stack.yml").read_text())
FUNCTIONS = stack.functions()
SCALE_MIN, SCALE_MAX = "com.openfaas.scale.min", "com.openfaas.scale.max"


def _handler_dir(fn: stack.Function) -> Path:
    return ROOT / fn.spec["handler"]


def _is_oidc(fn: stack.Function) -> bool:
    return any(r.path.startswith(("/oidc/", "/.well-known/")) for r in fn.routes)


def test_every_function_folder_is_declared_in_the_stack():
    """In stack.yml, or (the training sandbox's own) in its stack (deploy/sandbox.yml)."""
    folders = {p.name for p in (ROOT / "functions").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    declared = {
        Path(fn.spec["handler"]).name for fn in [*FUNCTIONS.values(), *stack.functions(profile="sandbox").values()]
    }
    assert folders - declared == set(), "functions/ folders missing from stack.yml and deploy/sandbox.yml"
    sandbox_only = {Path(fn.spec["handler"]).name for fn in stack.functions(profile="sandbox").values()} - {
        Path(fn.spec["handler"]).name for fn in FUNCTIONS.values()
    }
    assert sandbox_only == {"sandbox", "sandbox_franceconnect", "sandbox_demo"}


def test_the_template_is_pulled_from_its_git_source_at_the_pinned_commit_and_shared_is_copied():
    config = RAW["configuration"]
    templates = {t["name"]: t["source"] for t in config["templates"]}
    pin = template_pin.load()
    assert templates["python3-http"] == pin.source
    # faas-cli's form for a commit: `#sha-<7 to 40 hex>` (a bare `#<ref>` is a branch or tag).
    assert re.fullmatch(r"https://github\.com/openfaas/python-flask-template#sha-[0-9a-f]{40}", pin.source)
    assert config["copy"] == ["./shared"]
    assert RAW["provider"]["name"] == "openfaas"


def test_faas_cli_reads_every_value_as_a_string():
    """faas-cli decodes environment, labels, annotations and build_args into
    map[string]string: an unquoted number or boolean there breaks `faas-cli up`."""
    for name, spec in RAW["functions"].items():
        for section in ("environment", "labels", "annotations", "build_args"):
            for key, value in (spec.get(section) or {}).items():
                assert isinstance(value, str), f"{name}.{section}.{key} = {value!r} must be quoted"


def test_no_dollar_sign_for_faas_cli_envsubst_to_eat():
    """faas-cli substitutes ${VAR} and $VAR in stack.yml from the shell environment."""
    text = (ROOT / "stack.yml").read_text()
    assert "$" not in text


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_is_complete(name):
    fn = FUNCTIONS[name]
    spec = fn.spec
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,62}", name), "function names are DNS labels"
    assert spec["lang"] == "python3-http"
    assert spec["image"].startswith("ghcr.io/") and spec["image"].split("/")[-1].split(":")[0] == name
    handler = _handler_dir(fn)
    source = (handler / "handler.py").read_text()
    handle = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "handle"]
    assert handle and [a.arg for a in handle[0].args.args] == ["event", "context"]
    assert (handler / "requirements.txt").is_file()
    env = fn.environment
    assert env["PYTHONPATH"] == "/home/app/function", "makes `import shared` work in the image"
    for timeout in ("exec_timeout", "read_timeout", "write_timeout"):
        assert timeout in env
    build_args = spec.get("build_args") or {}
    assert build_args.get("TEST_ENABLED") == "false", "the template's tox stage would run in the image build"
    assert build_args.get("PYTHON_VERSION") == "3.11", "the image runs the Python the project is tested with"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_has_scaling_labels(name):
    labels = FUNCTIONS[name].labels
    low, high = int(labels[SCALE_MIN]), int(labels[SCALE_MAX])
    assert 1 <= low <= high
    if "com.openfaas.scale.type" in labels:
        assert labels["com.openfaas.scale.type"] in ("rps", "capacity", "cpu", "queue")
        assert int(labels["com.openfaas.scale.target"]) > 0


def test_the_functions_franceconnect_calls_keep_two_replicas():
    """A restart or a lost node never fails an aidant's connection."""
    oidc = [fn for fn in FUNCTIONS.values() if any(r.path.startswith("/oidc/") for r in fn.routes)]
    assert oidc
    for fn in oidc:
        assert int(fn.labels[SCALE_MIN]) >= 2, fn.name


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", quantity)
    assert match, f"{quantity!r}: write memory in Ki, Mi or Gi"
    return float(match.group(1)) * units[match.group(2)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_has_cpu_and_memory_requests_within_its_limits(name):
    """faas-cli's `requests:`/`limits:` (Kubernetes resources): a replica is scheduled
    on what it requests and stopped (memory) or throttled (CPU) at its limit."""
    spec = FUNCTIONS[name].spec
    requests_, limits = spec.get("requests") or {}, spec.get("limits") or {}
    assert set(requests_) == set(limits) == {"cpu", "memory"}, name
    assert all(isinstance(v, str) for v in [*requests_.values(), *limits.values()])
    assert 0 < _cores(requests_["cpu"]) <= _cores(limits["cpu"])
    assert 0 < _mebibytes(requests_["memory"]) <= _mebibytes(limits["memory"])
    # One waitress process holds the GIL: more than a core per replica would be unused.
    assert _cores(limits["cpu"]) <= 1


def _capacity_table() -> dict[str, dict[str, str]]:
    """docs/capacity.md, "What each function needs": the plan `python -m bench capacity` printed."""
    text = (ROOT / "docs" / "capacity.md").read_text()
    section = text.split("## What each function needs", 1)[1].split("\n## ", 1)[0]
    rows = [
        line.strip().strip("|").split("|")
        for line in section.splitlines()
        if line.startswith("|") and not re.fullmatch(r"[|\-\s]+", line)
    ]
    header = [cell.strip() for cell in rows[0]]
    return {row[0].split()[0]: dict(zip(header, (cell.strip() for cell in row))) for row in rows[1:]}


def test_the_flow_functions_are_sized_as_the_capacity_plan_says():
    planned = _capacity_table()
    assert {"oidc-authorize", "oidc-token", "oidc-userinfo"} <= set(planned), "docs/capacity.md's plan table"
    for name, row in planned.items():
        labels = FUNCTIONS[name].labels
        low, high = (int(x) for x in row["`scale.min`/`max`"].split("/"))
        assert (int(labels[SCALE_MIN]), int(labels[SCALE_MAX])) == (low, high), name
        target = row["`scale.target` (rps per replica)"]
        if target.isdigit():
            assert labels["com.openfaas.scale.target"] == target and labels["com.openfaas.scale.type"] == "rps"
        else:
            assert "com.openfaas.scale.type" not in labels, name


def test_every_function_runs_with_the_resources_the_capacity_plan_says():
    text = (ROOT / "docs" / "capacity.md").read_text()
    match = re.search(r"CPU (\w+) requested, (\w+) limit; memory (\d+) MiB requested, (\d+) MiB\s+limit", text)
    assert match, "docs/capacity.md states the resources per replica"
    cpu_request, cpu_limit, memory_request, memory_limit = match.groups()
    for name, fn in FUNCTIONS.items():
        assert fn.spec["requests"] == {"cpu": cpu_request, "memory": f"{memory_request}Mi"}, name
        assert fn.spec["limits"] == {"cpu": cpu_limit, "memory": f"{memory_limit}Mi"}, name


def test_routes_do_not_collide():
    """Two routes with the same method and the same shape would leave the choice to
    declaration order; a literal route beside a templated one is fine (literal first)."""
    owners: dict[tuple[str, str], str] = {}
    for route in stack.routes():
        assert route.path.startswith("/") and " " not in route.path
        assert not route.path.startswith(("/function/", "/async-function/", "/system/")), (
            "those paths belong to the OpenFaaS gateway"
        )
        shape = re.sub(r"\{\w+\}", "{}", route.path.rstrip("/"))
        for method in route.methods:
            assert method in ("GET", "POST", "PUT", "PATCH", "DELETE"), f"{method} {route.path}"
            key = (method, shape)
            assert key not in owners, f"{method} {route.path}: {owners.get(key)} and {route.function}"
            owners[key] = route.function


def test_literal_routes_are_tried_before_templated_ones():
    order = stack.routes()
    for i, route in enumerate(order):
        if "{" in route.path:
            assert all("{" in later.path for later in order[i:])
            break


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_requirements_hold_only_what_the_code_imports(name):
    problems = imports.check(FUNCTIONS[name])
    missing = [p for p in problems if "never imports" not in p]
    assert missing == [], "the image would fail to import"
    if problems:
        # An unused requirement only makes the image bigger: reported, not blocking.
        pytest.xfail("; ".join(problems))


def test_every_declared_secret_is_documented_with_its_command():
    assert secrets.undocumented() == []
    printed = secrets.commands()
    for name in secrets.declared():
        assert f"faas-cli secret create {name} " in printed


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_build_context_is_laid_out_as_faas_cli_does(name, tmp_path):
    out = context.build_context(name, tmp_path / name)
    fn = FUNCTIONS[name]
    assert (out / "index.py").is_file() and (out / "requirements.txt").is_file()
    assert (out / "function" / "handler.py").read_bytes() == (_handler_dir(fn) / "handler.py").read_bytes()
    assert (out / "function" / "requirements.txt").read_bytes() == (_handler_dir(fn) / "requirements.txt").read_bytes()
    shared_files = sorted(p.relative_to(ROOT / "shared") for p in (ROOT / "shared").rglob("*") if p.is_file())
    copied = sorted(
        p.relative_to(out / "function" / "shared") for p in (out / "function" / "shared").rglob("*") if p.is_file()
    )
    assert copied == shared_files


def test_copy_paths_outside_the_project_are_refused(tmp_path):
    with pytest.raises(context.ContextError):
        context._in_scope("../elsewhere", ROOT)
    with pytest.raises(context.ContextError):
        context._in_scope(".", ROOT)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_pins_the_flask_and_waitress_the_tests_run(name):
    """The template installs them unpinned; the function's own file (installed after it,
    in the user site that comes first) fixes them at the lock's versions, which are
    the ones the local runtime and every test run."""
    lock = requirements.load()
    listed = requirements.parse((_handler_dir(FUNCTIONS[name]) / "requirements.txt").read_text())
    for dist in imports.TEMPLATE_RUNTIME:
        assert listed[dist].version == lock[dist].version == metadata.version(dist), dist
        assert set(listed[dist].hashes) == set(lock[dist].hashes)
