"""The production ingress, generated from the routes annotation in ``stack.yml``.

Every public route goes to the OpenFaaS gateway at ``/function/<name><public path>``:
the gateway strips ``/function/<name>``, so the handler sees the public path, exactly
as behind the local gateway (``local/gateway.py``). Routes are tried in the order of
``local.stack.routes()`` (literal paths before templated ones) and a route only
matches with one of its methods, so ``GET /api/mandates`` and ``POST /api/mandates``
can go to two functions. A known path with another method answers 405.

Three outputs:

* ``nginx`` — a plain nginx server for faasd (nginx on the host, TLS by certbot,
  the gateway on 127.0.0.1:8080). The method-aware routing table is an nginx
  ``map``, whose regular expressions are tried in the order written.
* ``k8s`` — Kubernetes: a Kubernetes ``Ingress`` (host, TLS) in front of a small nginx
  router running the very same configuration (a ``ConfigMap``), which forwards to
  ``gateway.openfaas``. A Kubernetes ``Ingress`` cannot route on the HTTP method, and
  ingress-nginx orders regex paths by length rather than as written, so the routing
  table has to live in nginx itself.
* ``functioningress`` — OpenFaaS ``FunctionIngress`` objects (ingress-operator), one
  per route path. They route on the path only; the command refuses when that would
  send a request to another function than the local gateway does (use ``k8s``).

Only the declared routes reach the gateway: ``/function/*``, ``/async-function/*``
and the gateway's own ``/system/*`` API are never public.

The nginx server also limits the rate of the routes anonymous callers reach
(``RATE_LIMITS``: login, the identity provider's public endpoints, the public
accreditation writes), per client address, and makes every answer unframeable
(``FRAME_HEADERS``, in every location: nginx drops the server's ``add_header``
wherever a location has its own). The headers' values are
``shared/security_headers.py``'s, which the functions and the local gateway send too.

The nginx configuration is rendered from ``templates/nginx.conf.j2``; this module
prepares its values (the routing table, the rate limit keys) and quotes them.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import yaml

from local import stack
from shared import security_headers

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_BODY = "1m"  # the local gateway's MAX_BODY; functions apply stricter limits
ROUTER_NAME = "aidants-connect-router"


@dataclass(frozen=True)
class RateLimit:
    """An nginx ``limit_req`` zone over some routes, keyed by the client address.
    Each zone holds 10 MB of addresses (about 160 000). ``sandbox``: a limit of the
    training sandbox's own routes, in its stack only."""

    zone: str
    rate: str
    burst: int
    routes: tuple[str, ...]  # "METHOD /path" exactly as in stack.yml's annotation
    why: str
    sandbox: bool = False


# Anonymous callers (no session, no client authentication) reach these. The
# functions bound what they may write (docs/reliability.md, "Anonymous requests");
# these limits bound how fast one address may try. Bursts leave room for an office
# of aidants behind one NAT (a France Services) and for FranceConnect's few servers.
RATE_LIMITS = (
    RateLimit(
        "ac_login",
        "20r/m",
        20,
        ("POST /api/login", "GET /api/login/{token}"),
        "login codes and e-mailed links: a person needs a few a minute",
    ),
    RateLimit(
        "ac_oidc_browser",
        "5r/s",
        20,
        ("GET /oidc/authorize",),
        "the authorization request, one per démarche a person starts",
    ),
    RateLimit(
        "ac_oidc_backchannel",
        "50r/s",
        200,
        ("POST /oidc/token", "GET,POST /oidc/userinfo"),
        "FranceConnect's servers, server to server: all our traffic from a few addresses",
    ),
    RateLimit(
        "ac_habilitation",
        "10r/m",
        10,
        (
            "POST /api/habilitation/requests",
            "PUT /api/habilitation/requests/{request}",
            "POST /api/habilitation/requests/{request}/submit",
            "POST /api/habilitation/requests/{request}/messages",
        ),
        "the public accreditation form: a few saves a minute",
    ),
    RateLimit(
        "ac_sandbox_signup",
        "5r/m",
        10,
        ("POST /api/sandbox/trainees",),
        "the training sandbox's public sign-up: a training room behind one address signs up at once",
        sandbox=True,
    ),
)

# Nobody may frame our pages (clickjacking). The functions send a full policy with
# their own HTML pages (shared.http.html_response); a second CSP header only adds
# restrictions, so this one is safe on every answer.
FRAME_HEADERS = security_headers.EDGE_FRAME_HEADERS
TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED = (
    "# Generated by `python -m deploy ingress --kind {kind}` from the routes annotation\n"
    "# in stack.yml. Do not edit: change stack.yml and generate again.\n"
)


@dataclass(frozen=True)
class Options:
    server_name: str
    upstream: str = "127.0.0.1:8080"  # faasd's gateway
    static_root: str = "/srv/aidants-connect/frontend"
    listen: int = 80  # without TLS; with TLS: 443, and 80 redirects
    tls: bool = True  # faasd: nginx terminates TLS with certbot's certificate
    read_timeout_seconds: int = 15
    namespace: str = "openfaas"
    cluster_issuer: str = "letsencrypt-prod"
    router_image: str = "nginxinc/nginx-unprivileged:1.27-alpine"
    access_log: str = "/var/log/nginx/aidants-connect.access.log"


def default_options(stack_path=None, **overrides) -> Options:
    """The public host from ``ISSUER`` and the proxy timeout from the functions'
    watchdog timeouts, both read from stack.yml (or the stack file given: the
    training sandbox's, stack.sandbox.yml, has its own host)."""
    functions = stack.functions(stack_path).values()
    issuers = {fn.environment.get("ISSUER") for fn in functions} - {None}
    server_name = urlsplit(min(issuers)).hostname if issuers else "localhost"
    timeouts = [
        _seconds(fn.environment.get(key, "0s")) for fn in functions for key in ("exec_timeout", "write_timeout")
    ]
    values = {"server_name": server_name, "read_timeout_seconds": max(timeouts + [10]) + 5}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Options(**values)


def _seconds(duration: str) -> int:
    """A Go duration as the watchdog reads it (``15s``, ``1m30s``, ``500ms``)."""
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+)(ms|s|m|h)", str(duration)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return int(total + 0.999)


def methods(route: stack.Route) -> tuple[str, ...]:
    """The methods a route answers at the edge: HEAD goes with GET, as locally."""
    found = list(route.methods)
    if "GET" in found and "HEAD" not in found:
        found.append("HEAD")
    return tuple(found)


def path_regex(route: stack.Route) -> str:
    """The same regular expression the local gateway matches (``Route.regex``)."""
    return route.regex.pattern


def resolve(routes: list[stack.Route], method: str, path: str) -> str | None:
    """The local gateway's choice: the function, ``"405"``, or None (not a route)."""
    known = False
    for route in routes:
        if route.regex.match(path):
            known = True
            if method in methods(route):
                return route.function
    return "405" if known else None


# -- nginx ----------------------------------------------------------------------


def _quote(text: str) -> str:
    """An nginx quoted string. nginx keeps a backslash before any character but a
    quote or a backslash, so a regular expression is written as it is."""
    if any(c in text for c in "\"'\n;{}") or "\\\\" in text:
        raise ValueError(f"cannot quote {text!r} for nginx")
    return f'"{text}"'


def _limited_routes(routes: list[stack.Route], limit: RateLimit) -> list[tuple[tuple[str, ...], stack.Route]]:
    """(methods, route) for each of the limit's routes; a name that is not a route of
    stack.yml is an error, not a limit that silently applies to nothing."""
    by_path = {r.path: r for r in routes}
    found = []
    for spec in limit.routes:
        methods_text, path = spec.split(None, 1)
        route = by_path.get(path)
        wanted = tuple(m.strip().upper() for m in methods_text.split(","))
        if route is None or not set(wanted) <= set(route.methods):
            raise ValueError(f"rate limit {limit.zone}: {spec} is not a route of stack.yml")
        if "GET" in wanted and "HEAD" not in wanted:
            wanted += ("HEAD",)
        found.append((wanted, route))
    return found


def _header_value(text: str) -> str:
    """An ``add_header`` value: a bare word as it is, anything else quoted. nginx
    would expand a ``$`` in it as a variable."""
    if any(c in text for c in '"\\\n$'):
        raise ValueError(f"cannot write {text!r} as an nginx header value")
    return text if re.fullmatch(r"[A-Za-z0-9-]+", text) else f'"{text}"'


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters.update(q=_quote, header=_header_value)


def nginx_conf(routes: list[stack.Route], options: Options, kind: str = "nginx") -> str:
    routing = [
        {
            "key": "~^(?:" + "|".join(methods(route)) + "):" + path_regex(route)[1:],  # without its ^
            "function": route.function,
            "methods": ",".join(route.methods),
            "path": route.path,
        }
        for route in routes
    ]
    sandbox = any(r.path.startswith("/api/sandbox") for r in routes)
    rate_limits = [
        {
            "limit": limit,
            "entries": [
                "~^(?:" + "|".join(wanted) + "):" + path_regex(route)[1:]
                for wanted, route in _limited_routes(routes, limit)
            ],
        }
        for limit in RATE_LIMITS
        if not limit.sandbox or sandbox
    ]
    known_paths = "|".join(dict.fromkeys(path_regex(r)[1:-1] for r in routes))
    return _ENVIRONMENT.get_template("nginx.conf.j2").render(
        generated=GENERATED.format(kind=kind),
        kind=kind,
        options=options,
        max_body=MAX_BODY,
        routing=routing,
        rate_limits=rate_limits,
        known_paths="^(?:" + known_paths + ")$",
        forwarded_proto="$http_x_forwarded_proto" if not options.tls and kind == "k8s" else "$scheme",
        frame_headers=list(FRAME_HEADERS),
        hsts=[security_headers.HSTS] if options.tls else [],
        static_headers=list(security_headers.STATIC_HEADERS),
        dsfr_headers=[security_headers.NOSNIFF, *FRAME_HEADERS],
    )


# -- Kubernetes -------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the nginx configuration) as readable literal blocks."""


_BlockDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def k8s_manifests(routes: list[stack.Route], options: Options) -> str:
    router = Options(
        **{
            **options.__dict__,
            "upstream": f"gateway.{options.namespace}.svc.cluster.local:8080",
            "listen": 8080,
            "tls": False,
            "static_root": "/usr/share/nginx/html",
            "access_log": "/dev/stdout",
        }
    )
    labels = {"app.kubernetes.io/name": ROUTER_NAME, "app.kubernetes.io/part-of": "aidants-connect"}
    meta = {"name": ROUTER_NAME, "namespace": options.namespace, "labels": labels}
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"default.conf": nginx_conf(routes, router, kind="k8s")},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": ROUTER_NAME}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "nginx",
                                "image": options.router_image,
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {"tcpSocket": {"port": 8080}},
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "32Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                                "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
                                "volumeMounts": [{"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "conf", "configMap": {"name": ROUTER_NAME}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app.kubernetes.io/name": ROUTER_NAME},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                **meta,
                "annotations": {
                    "cert-manager.io/cluster-issuer": options.cluster_issuer,
                    "nginx.ingress.kubernetes.io/proxy-body-size": MAX_BODY,
                    "nginx.ingress.kubernetes.io/proxy-read-timeout": str(options.read_timeout_seconds),
                },
            },
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": [options.server_name], "secretName": "aidants-connect-tls"}],
                "rules": [
                    {
                        "host": options.server_name,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": ROUTER_NAME, "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ],
            },
        },
    ]
    return GENERATED.format(kind="k8s") + yaml.dump_all(docs, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)


# -- OpenFaaS FunctionIngress -------------------------------------------------------


class NotRepresentable(ValueError):
    pass


def _function_ingress_paths(routes: list[stack.Route]) -> list[tuple[str, str]]:
    """(FunctionIngress path, function), one per distinct route path. The operator
    rewrites to ``/function/<fn>/$1``, so the capture is the whole public path."""
    seen: dict[str, str] = {}
    for route in routes:
        body = path_regex(route)[2:-3]  # between "^/" and "/?$"
        seen.setdefault(f"/({body})/?$", route.function)
    return list(seen.items())


def _probe_paths(routes: list[stack.Route]) -> list[str]:
    """Concrete paths that exercise every route and every overlap between them: each
    placeholder takes a sample value and every literal another route has there."""
    split = [r.path.split("/") for r in routes]
    probes = set()
    for segments in split:
        choices = []
        for i, segment in enumerate(segments):
            if "{" in segment:
                choices.append({"x1"} | {o[i] for o in split if len(o) > i and o[i] and "{" not in o[i]})
            else:
                choices.append({segment})
        for combination in itertools.product(*[sorted(c) for c in choices]):
            probes.add("/".join(combination))
    return sorted(probes)


def _ingress_nginx_choice(paths: list[tuple[str, str]], path: str) -> str | None:
    # ingress-nginx writes regex locations longest first, matched case-insensitively.
    for pattern, function in sorted(paths, key=lambda p: -len(p[0])):
        if re.match("^" + pattern, path, re.IGNORECASE):
            return function
    return None


def function_ingresses(routes: list[stack.Route], options: Options) -> str:
    paths = _function_ingress_paths(routes)
    wrong = []
    for probe in _probe_paths(routes):
        chosen = _ingress_nginx_choice(paths, probe)
        for method in METHODS:
            local = resolve(routes, method, probe)
            if local not in (None, "405") and chosen != local:
                wrong.append(f"{method} {probe}: gateway -> {local}, FunctionIngress -> {chosen}")
            if local is None and chosen is not None:
                wrong.append(f"{method} {probe}: gateway -> front-end, FunctionIngress -> {chosen}")
    if wrong:
        raise NotRepresentable(
            "FunctionIngress routes on the path only and cannot reproduce these routes "
            "(use --kind k8s):\n  " + "\n  ".join(sorted(set(wrong)))
        )
    docs = []
    for pattern, function in paths:
        slug = re.sub(r"[^a-z0-9]+", "-", pattern.lower()).strip("-")[:40].strip("-")
        docs.append(
            {
                "apiVersion": "openfaas.com/v1",
                "kind": "FunctionIngress",
                "metadata": {"name": f"{function}-{slug}"[:63].rstrip("-"), "namespace": options.namespace},
                "spec": {
                    "domain": options.server_name,
                    "function": function,
                    "ingressType": "nginx",
                    "path": pattern,
                    "tls": {"enabled": True, "issuerRef": {"name": options.cluster_issuer, "kind": "ClusterIssuer"}},
                },
            }
        )
    return GENERATED.format(kind="functioningress") + yaml.safe_dump_all(docs, sort_keys=False)


KINDS = {"nginx": nginx_conf, "k8s": k8s_manifests, "functioningress": function_ingresses}
FILENAMES = {"nginx": "nginx.conf", "k8s": "k8s.yaml", "functioningress": "functioningress.yaml"}


def generate(kind: str, options: Options | None = None, stack_path=None) -> str:
    routes = stack.routes(stack_path)
    return KINDS[kind](routes, options or default_options())


def routes_json(stack_path=None) -> str:
    return json.dumps(
        [{"methods": list(r.methods), "path": r.path, "function": r.function} for r in stack.routes(stack_path)],
        indent=2,
    )
