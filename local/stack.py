"""Reads ``stack.yml``: the one place where functions and their public routes are
declared. The local gateway, the tests and the ingress generator all use this, so
they cannot disagree with what is deployed.

Two profiles. ``production`` is ``stack.yml`` as it is (what ``faas-cli up -f
stack.yml`` deploys). ``sandbox``, the training sandbox, is ``stack.yml`` with the
differences ``deploy/sandbox.yml`` lists (its own table, issuer, FranceConnect
stand-in, no SMTP, its own functions), merged by :func:`sandbox_stack`;
``python -m deploy sandbox-stack --write`` writes the result to
``stack.sandbox.yml``, the file its own OpenFaaS deploys (``faas-cli up -f
stack.sandbox.yml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROUTES_ANNOTATION = "aidantsconnect.beta.gouv.fr/routes"
PROFILES = ("production", "sandbox")
SANDBOX_OVERLAY = ROOT / "deploy" / "sandbox.yml"  # what the sandbox changes (source)
SANDBOX_STACK = ROOT / "stack.sandbox.yml"  # stack.yml + the overlay (generated, deployed)
SCALE_MIN, SCALE_MAX = "com.openfaas.scale.min", "com.openfaas.scale.max"


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str  # with {param} placeholders
    function: str

    @property
    def regex(self) -> re.Pattern:
        return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(self.path)) + "/?$")


@dataclass
class Function:
    name: str  # the deployed name (DNS-safe, with hyphens)
    folder: str  # functions/<folder>, with underscores, as the repository names it
    spec: dict
    routes: list[Route] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.spec.get("environment") or {}).items()}

    @property
    def labels(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.spec.get("labels") or {}).items()}

    @property
    def exec_timeout_seconds(self) -> float | None:
        """The watchdog's ``exec_timeout`` (a Go duration), if stack.yml sets one."""
        raw = self.environment.get("exec_timeout")
        return duration_seconds(raw) if raw else None


def duration_seconds(duration: str) -> float:
    """A Go duration as the watchdog reads it (``15s``, ``1m30s``, ``500ms``)."""
    return sum(
        float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        for amount, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(duration))
    )


def load(path: Path | None = None) -> dict:
    return yaml.safe_load((path or ROOT / "stack.yml").read_text())


def _profiled(spec: dict, overlay: dict, own: dict | None = None) -> dict:
    """A function's spec as the sandbox deploys it: the profile's environment over
    its own (then its own sandbox-only values), SMTP and its secret gone, scaled
    down."""
    spec = dict(spec)
    environment = {
        k: v
        for k, v in (spec.get("environment") or {}).items()
        if k not in set(overlay.get("remove_environment") or ())
    }
    environment.update(overlay.get("environment") or {})
    environment.update((own or {}).get("environment") or {})
    spec["environment"] = environment
    secrets = [s for s in spec.get("secrets") or [] if s not in set(overlay.get("remove_secrets") or ())]
    if secrets:
        spec["secrets"] = secrets
    else:
        spec.pop("secrets", None)
    labels = dict(spec.get("labels") or {})
    cap = int((own or {}).get("scale_max") or overlay.get("scale_max") or labels.get(SCALE_MAX, 1))
    labels[SCALE_MAX] = str(min(int(labels.get(SCALE_MAX, cap)), cap))
    labels[SCALE_MIN] = str(min(int(labels.get(SCALE_MIN, 1)), int(labels[SCALE_MAX])))
    spec["labels"] = labels
    return spec


def sandbox_stack(base: Path | None = None, overlay_path: Path | None = None) -> dict:
    """``stack.yml`` as the training sandbox deploys it (``deploy/sandbox.yml``)."""
    data = load(base)
    overlay = yaml.safe_load((overlay_path or SANDBOX_OVERLAY).read_text())
    configuration = dict(data.get("configuration") or {})
    configuration["copy"] = list(configuration.get("copy") or []) + list(overlay.get("copy") or [])
    stacked: dict = {
        "version": data["version"],
        "provider": {**data["provider"], **(overlay.get("provider") or {})},
        "configuration": configuration,
        "functions": {},
    }
    per_function = overlay.get("override") or {}
    for name, spec in (data.get("functions") or {}).items():
        if name not in set(overlay.get("without") or ()):
            stacked["functions"][name] = _profiled(spec, overlay, per_function.get(name))
    common = {"environment": data.get("x-environment") or {}, "build_args": data.get("x-build-args") or {}}
    for name, spec in (overlay.get("functions") or {}).items():
        full = {key: value for key, value in spec.items() if key not in ("environment", "scale_max")}
        full["build_args"] = dict(common["build_args"])
        # A replica's CPU and memory as stack.yml gives every function (docs/capacity.md).
        for key in ("requests", "limits"):
            if data.get(f"x-{key}") and key not in full:
                full[key] = dict(data[f"x-{key}"])
        full["environment"] = dict(common["environment"])
        stacked["functions"][name] = _profiled(full, overlay, spec)
    return stacked


class _PlainDumper(yaml.SafeDumper):
    """Every value written out where it is used: no anchors and aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


def sandbox_stack_text() -> str:
    """What ``stack.sandbox.yml`` holds: :func:`sandbox_stack`, with a header."""
    header = (
        "# Generated by `python -m deploy sandbox-stack --write` from stack.yml and deploy/sandbox.yml:\n"
        '# the training sandbox ("bac à sable"), deployed on its own OpenFaaS with\n'
        "# `faas-cli up -f stack.sandbox.yml` (docs/deploy.md). Do not edit: change those two.\n"
    )
    return header + yaml.dump(sandbox_stack(), Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)


def functions(path: Path | None = None, profile: str | None = None) -> dict[str, Function]:
    """The functions of ``path`` (stack.yml), or of a profile's stack."""
    data = sandbox_stack() if profile == "sandbox" else load(path)
    found = {}
    for name, spec in (data.get("functions") or {}).items():
        folder = Path(spec["handler"]).name
        fn = Function(name=name, folder=folder, spec=spec)
        raw = (spec.get("annotations") or {}).get(ROUTES_ANNOTATION, "")
        for line in str(raw).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            methods, route_path = line.split(None, 1)
            fn.routes.append(Route(tuple(m.strip().upper() for m in methods.split(",")), route_path.strip(), name))
        found[name] = fn
    return found


def routes(path: Path | None = None, profile: str | None = None) -> list[Route]:
    """Every public route; literal paths before templated ones so that
    ``/api/mandates/drafts`` wins over ``/api/mandates/{id}``."""
    all_routes = [r for fn in functions(path, profile).values() for r in fn.routes]
    return sorted(all_routes, key=lambda r: (r.path.count("{"), -len(r.path)))
