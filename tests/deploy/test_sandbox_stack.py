"""The training sandbox deploys as a second stack (stack.sandbox.yml, generated from
stack.yml and deploy/sandbox.yml): its own table, issuer, keys and FranceConnect
stand-in, nothing of production's; and production deploys nothing of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from deploy import context, ingress, secrets
from local import stack
from shared import config

ROOT = stack.ROOT
PRODUCTION = stack.functions()
SANDBOX = stack.functions(stack.SANDBOX_STACK)
OWN = ("sandbox", "sandbox-franceconnect", "sandbox-demo")


def test_stack_sandbox_yml_is_what_stack_yml_and_deploy_sandbox_yml_give():
    assert stack.SANDBOX_STACK.read_text() == stack.sandbox_stack_text(), (
        "stale: python -m deploy sandbox-stack --write (make sandbox-stack)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "sandbox-stack", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # What `make sandbox` runs is the same stack.
    assert {n: fn.spec for n, fn in stack.functions(profile="sandbox").items()} == {
        n: fn.spec for n, fn in SANDBOX.items()
    }


def test_the_sandbox_has_the_same_functions_but_the_journal_seal_and_its_own_three():
    assert set(SANDBOX) == (set(PRODUCTION) - {"journal-seal"}) | set(OWN)
    for name in set(PRODUCTION) & set(SANDBOX):
        assert SANDBOX[name].spec["handler"] == PRODUCTION[name].spec["handler"]
        assert SANDBOX[name].spec["image"] == PRODUCTION[name].spec["image"]
        assert SANDBOX[name].routes == PRODUCTION[name].routes


def test_production_deploys_nothing_of_the_sandbox():
    assert not set(OWN) & set(PRODUCTION)
    assert not [r for r in stack.routes() if r.path.startswith(("/api/sandbox", "/franceconnect", "/demo"))]
    assert all(fn.environment.get("PROFILE", "production") == "production" for fn in PRODUCTION.values())
    assert (yaml.safe_load((ROOT / "stack.yml").read_text())["configuration"]["copy"]) == ["./shared"]


@pytest.mark.parametrize("name", sorted(SANDBOX))
def test_every_sandbox_function_is_its_own_and_would_serve(name, monkeypatch):
    """Its environment, read as a function reads it, has no profile problem: not the
    production table or issuer, FranceConnect its own stand-in; no SMTP, no link."""
    env = SANDBOX[name].environment
    assert env["PROFILE"] == "sandbox" and env["LOGIN_LINK_ENABLED"] == "false"
    assert not [k for k in env if k.startswith("SMTP_")]
    assert "smtp-password" not in (SANDBOX[name].spec.get("secrets") or [])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config.reset_caches()
    try:
        cfg = config.settings()
        assert cfg.sandbox and cfg.profile_problem is None
        assert cfg.table_name not in config.PRODUCTION_TABLE_NAMES and cfg.issuer not in config.PRODUCTION_ISSUERS
        assert cfg.franceconnect_url == cfg.issuer + "/franceconnect"
    finally:
        for key in env:
            monkeypatch.delenv(key)
        config.reset_caches()


def test_production_is_what_the_sandbox_refuses():
    """config's idea of production is stack.yml's production environment."""
    tables = {fn.environment["TABLE_NAME"] for fn in PRODUCTION.values()}
    issuers = {fn.environment["ISSUER"] for fn in PRODUCTION.values()} | {
        fn.environment["FRONTEND_URL"] for fn in PRODUCTION.values()
    }
    assert tables <= set(config.PRODUCTION_TABLE_NAMES)
    assert issuers <= set(config.PRODUCTION_ISSUERS)


def test_faas_cli_reads_the_sandbox_stack():
    raw = yaml.safe_load(stack.SANDBOX_STACK.read_text())
    text = stack.SANDBOX_STACK.read_text()
    assert "$" not in text and "&id" not in text and "*id" not in text  # no envsubst, no YAML aliases
    for name, spec in raw["functions"].items():
        for section in ("environment", "labels", "annotations", "build_args"):
            for key, value in (spec.get(section) or {}).items():
                assert isinstance(value, str), f"{name}.{section}.{key} = {value!r} must be quoted"
        assert (ROOT / spec["handler"] / "handler.py").is_file() and (
            ROOT / spec["handler"] / "requirements.txt"
        ).is_file()
        labels = spec["labels"]
        assert 1 <= int(labels[stack.SCALE_MIN]) <= int(labels[stack.SCALE_MAX]) <= 2
    for name in ("sandbox-franceconnect", "sandbox-demo"):  # state in memory: one replica
        assert raw["functions"][name]["labels"][stack.SCALE_MAX] == "1"
    for path in raw["configuration"]["copy"]:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize(
    "name,path,expect",
    [
        ("sandbox-franceconnect", "/franceconnect/.well-known/openid-configuration", "issuer"),
        ("sandbox", "/api/sandbox", "situations"),
    ],
)
def test_a_sandbox_function_runs_from_its_build_context(name, path, expect, tmp_path):
    """The stand-in comes with the build context (copied from local/), nothing from the
    repository: the handler is imported and called with the context alone on its path."""
    home = context.assemble(context.build_context(name, tmp_path / "context", stack.SANDBOX_STACK), tmp_path / "home")
    assert (home / "function" / "local" / "franceconnect" / "__init__.py").is_file()
    assert (home / "function" / "local" / "fi_demo" / "__init__.py").is_file()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    env.update(context.image_environment(SANDBOX[name], home))
    env.update(
        {
            "ISSUER": "http://127.0.0.1:9",
            "FRONTEND_URL": "http://127.0.0.1:9",
            "FRANCECONNECT_URL": "http://127.0.0.1:9/franceconnect",
            "SECRETS_DIR": str(tmp_path / "secrets"),
            "SECRET_TOKEN_HMAC_KEY": "a" * 44,
            "SECRET_TOTP_SEAL_KEY": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
    )
    script = (
        "import json, sys\n"
        "from types import SimpleNamespace\n"
        "assert not any(p.rstrip('/') == %r for p in sys.path), sys.path\n"
        "from function import handler\n"
        "out = handler.handle(SimpleNamespace(method='GET', path=%r, query={}, headers={}, body=b''), None)\n"
        "print(json.dumps({'status': out['statusCode'], 'body': out['body']}))\n"
    ) % (str(ROOT), path)
    done = subprocess.run([sys.executable, "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200 and expect in json.loads(answer["body"]), answer


def test_the_sandbox_ingress_routes_its_own_paths_and_limits_its_public_sign_up():
    options = ingress.default_options(stack_path=stack.SANDBOX_STACK)
    assert options.server_name == "bac-a-sable.aidantsconnect.beta.gouv.fr"
    conf = ingress.generate("nginx", options, stack.SANDBOX_STACK)
    assert "/api/sandbox/trainees" in conf and "sandbox-franceconnect" in conf and "sandbox-demo" in conf
    assert "zone=ac_sandbox_signup" in conf and "journal-seal" not in conf
    production = ingress.generate("nginx", ingress.default_options())
    assert "/api/sandbox" not in production and "ac_sandbox_signup" not in production
    assert "franceconnect" not in production.split('map "$request_method:$uri" $aidants_function')[1].split("}")[0]


def test_the_sandbox_secrets_are_its_own():
    commands = secrets.commands(stack.SANDBOX_STACK)
    assert 'SECRETS_DIR="${SECRETS_DIR:-$HOME/aidants-connect-sandbox-secrets}"' in commands
    assert "smtp-password" not in commands
    assert "--generate franceconnect-client-secret --sandbox" in commands
    assert secrets.undocumented(stack.SANDBOX_STACK) == []
    assert len(secrets.generate("franceconnect-client-secret", sandbox=True)) >= 40
    production = secrets.commands()
    assert "$HOME/aidants-connect-secrets" in production and "--sandbox" not in production
    with pytest.raises(KeyError):
        secrets.generate("franceconnect-client-secret")  # production's comes from FranceConnect


@pytest.mark.skipif(__import__("shutil").which("nginx") is None, reason="no nginx binary (apt-get install nginx-light)")
def test_nginx_accepts_the_sandbox_configuration(tmp_path):
    options = ingress.Options(
        **{
            **ingress.default_options(stack_path=stack.SANDBOX_STACK).__dict__,
            "tls": False,
            "access_log": str(tmp_path / "access.log"),
        }
    )
    (tmp_path / "site.conf").write_text(ingress.generate("nginx", options, stack.SANDBOX_STACK))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n"
    )
    check = subprocess.run(
        [
            "nginx",
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
