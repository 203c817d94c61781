"""Reads ``stack.yml``: the one place where functions and their public routes are
declared. The local gateway, the tests and the ingress generator all use this, so
they cannot disagree with what is deployed."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROUTES_ANNOTATION = "aidantsconnect.beta.gouv.fr/routes"


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
    folder: str  # functions/<folder>, with underscores, as DESIGN.md names it
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
    return sum(float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
               for amount, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(duration)))


def load(path: Path | None = None) -> dict:
    return yaml.safe_load((path or ROOT / "stack.yml").read_text())


def functions(path: Path | None = None) -> dict[str, Function]:
    found = {}
    for name, spec in (load(path).get("functions") or {}).items():
        folder = Path(spec["handler"]).name
        fn = Function(name=name, folder=folder, spec=spec)
        raw = (spec.get("annotations") or {}).get(ROUTES_ANNOTATION, "")
        for line in str(raw).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            methods, route_path = line.split(None, 1)
            fn.routes.append(Route(tuple(m.strip().upper() for m in methods.split(",")),
                                   route_path.strip(), name))
        found[name] = fn
    return found


def routes(path: Path | None = None) -> list[Route]:
    """Every public route; literal paths before templated ones so that
    ``/api/mandates/drafts`` wins over ``/api/mandates/{id}``."""
    all_routes = [r for fn in functions(path).values() for r in fn.routes]
    return sorted(all_routes, key=lambda r: (r.path.count("{"), -len(r.path)))
