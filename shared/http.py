"""The OpenFaaS ``python3-http`` contract, seen from our side.

A handler receives ``event`` (``.body`` bytes, ``.headers``, ``.method``, ``.query``,
``.path``) and returns ``{"statusCode", "body", "headers"}``. This module turns the
event into a :class:`Request`, routes it to a small function, and turns whatever
comes back, or whatever typed error is raised, into that dict. Handlers stay glue.

Bodies are always encoded here (the template would ``str()`` bytes) and headers are
returned as a list of pairs so that several ``Set-Cookie`` can be sent.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import anonymous, budget, errors, logs, security_headers
from . import error_codes as codes
from .config import settings

log = logging.getLogger("aidants_connect.http")

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
HOST_PREFIX = "__Host-"
# Methods that change state: under /api/ they must come from our front-end (below).
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# What a page rendered by a function may do, and that it may never be framed
# (shared/security_headers.py, the policy the edge and the local gateway send too).
PAGE_SECURITY_HEADERS = list(security_headers.PAGE_HEADERS)

# Headers every answer carries: nothing we return may be cached by a proxy or sniffed.
_BASE_HEADERS = [("Cache-Control", "no-store"), *security_headers.ANSWER_HEADERS]


class Headers:
    """Case-insensitive view over whatever header mapping the runtime gives us."""

    def __init__(self, raw: Any):
        items = raw.items() if hasattr(raw, "items") else (raw or [])
        self._values: dict[str, str] = {}
        for key, value in items:
            self._values[str(key).lower()] = str(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values


def cookie_name(base: str) -> str:
    """The name a cookie has on the wire. Over https it is ``__Host-`` prefixed:
    browsers then accept it only with ``Secure``, ``Path=/`` and no ``Domain``, so a
    sibling site (any ``*.beta.gouv.fr``) cannot plant one that we would read. Over
    plain http (local runs) browsers refuse the prefix, so the name stays as it is.
    Every cookie of the service is named through here (the session, the OIDC
    transaction's)."""
    return HOST_PREFIX + base if settings().secure_cookies else base


def parse_cookie_header(header: str | None) -> dict[str, list[str]]:
    """Every value of every cookie, in order (RFC 6265 §5.4: ``name=value`` pairs
    separated by ``;``). Unlike ``http.cookies.SimpleCookie``, which keeps the last
    value of a repeated name, this keeps them all, so that a repeated name is seen."""
    found: dict[str, list[str]] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        found.setdefault(name, []).append(value)
    return found


def _expired(name: str) -> str:
    """A Set-Cookie value that removes this host's cookie ``name`` (exact name)."""
    secure = "; Secure" if settings().secure_cookies else ""
    return f"{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _query_dict(raw: Any) -> dict[str, str]:
    """First value of each parameter; repeated parameters are refused by the callers
    that care (OAuth forbids them, RFC 6749 §3.1)."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        return dict(parse_qsl(raw, keep_blank_values=True))
    if hasattr(raw, "to_dict"):
        return raw.to_dict(flat=True)
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in dict(raw).items()}


def _query_repeats(raw: Any) -> set[str]:
    if raw is not None and hasattr(raw, "getlist"):
        return {k for k in raw.keys() if len(raw.getlist(k)) > 1}
    return set()


@dataclass
class Request:
    method: str
    path: str
    headers: Headers
    query: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    route: str | None = None  # the matched route's template, for the access log
    repeated_query: set[str] = field(default_factory=set)
    _cookies: dict[str, list[str]] | None = None

    @classmethod
    def from_event(cls, event: Any) -> "Request":
        body = event.body or b""
        if isinstance(body, str):
            body = body.encode()
        raw_query = getattr(event, "query", None)
        return cls(
            method=(event.method or "GET").upper(),
            path=event.path or "/",
            headers=Headers(event.headers),
            query=_query_dict(raw_query),
            body=body,
            repeated_query=_query_repeats(raw_query),
        )

    # -- body -----------------------------------------------------------------
    def _check_size(self) -> None:
        if len(self.body) > settings().max_body_bytes:
            raise errors.PayloadTooLarge()

    def content_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> dict:
        """The body as a JSON object, or a precise 4xx."""
        self._check_size()
        if self.content_type() != JSON_TYPE:
            raise errors.UnsupportedMediaType()
        return self._json_object()

    def internal_json(self) -> dict:
        """The body of a call only the gateway makes: the cron-connector posts an
        empty body with no Content-Type (``{}``), the queue-worker the JSON object it
        was given."""
        self._check_size()
        return self._json_object() if self.body.strip() else {}

    def _json_object(self) -> dict:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:  # deep nesting: bad input, not a crash
            raise errors.BadRequest("Le corps de la requête n'est pas un JSON valide.") from err
        if not isinstance(data, dict):
            raise errors.BadRequest("Le corps de la requête doit être un objet JSON.")
        return data

    def form(self) -> dict[str, str]:
        self._check_size()
        if not self.body:
            return {}
        if self.content_type() != FORM_TYPE:
            raise errors.UnsupportedMediaType(
                "Le corps de la requête doit être encodé en application/x-www-form-urlencoded."
            )
        try:
            return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as err:
            raise errors.BadRequest("Le corps de la requête n'est pas de l'UTF-8 valide.") from err

    # -- cookies --------------------------------------------------------------
    def cookie(self, base: str) -> str | None:
        """The value of the cookie named ``cookie_name(base)``, or None; two values
        (the name repeated, or over https both the plain and the ``__Host-`` name) are
        refused rather than one picked: one of them was planted, and picking the
        last (``SimpleCookie``) would let it win (session fixation)."""
        if self._cookies is None:
            self._cookies = parse_cookie_header(self.headers.get("cookie"))
        name = cookie_name(base)
        values = self._cookies.get(name, [])
        # Over https the plain name is never ours: alone it is ignored, beside ours
        # it is the sign of a planted cookie.
        planted = self._cookies.get(base, []) if name != base else []
        if len(values) > 1 or (values and planted):
            anonymous.log_event("duplicate_cookie", cookie_name=base, count=len(values) + len(planted), path=self.path)
            # A plain one set by this host (a version before the prefix) goes with the
            # answer; one planted for a parent domain stays until it expires.
            raise errors.DuplicateCookie(headers={"Set-Cookie": _expired(base)} if planted else None)
        return values[0] if values else None

    @property
    def is_https(self) -> bool:
        return settings().secure_cookies


# -- field validation -----------------------------------------------------------


def require_str(
    data: dict, name: str, *, max_len: int = 256, pattern: re.Pattern | None = None, message: str | None = None
) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise errors.BadRequest(message or f"Le champ « {name} » est obligatoire.")
    value = value.strip()
    if len(value) > max_len or (pattern is not None and not pattern.fullmatch(value)):
        raise errors.BadRequest(message or f"Le champ « {name} » n'est pas valide.")
    return value


def require_scheduled_run(data: dict) -> None:
    """The scheduled functions' one command: ``{"run": "scheduled"}``, or nothing."""
    if data.get("run", "scheduled") != "scheduled":
        raise errors.BadRequest("« run » ne peut valoir que « scheduled ».")


# -- responses ------------------------------------------------------------------


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None

    def set_cookie(
        self, base: str, value: str, *, max_age: int | None, path: str = "/", same_site: str = "Lax"
    ) -> "Response":
        """Set the cookie ``cookie_name(base)``; never with a ``Domain`` (host-only)."""
        name = cookie_name(base)
        if name.startswith(HOST_PREFIX) and path != "/":
            raise ValueError("a __Host- cookie must have Path=/")  # browsers would drop it
        parts = [f"{name}={value}", f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if settings().secure_cookies:
            parts.append("Secure")
        self.headers.append(("Set-Cookie", "; ".join(parts)))
        if name != base:
            # The plain name this host set before the prefix: beside the new one it
            # would make every request a duplicate (refused), so it goes.
            self.headers.append(("Set-Cookie", _expired(base)))
        return self

    def delete_cookie(self, base: str, path: str = "/") -> "Response":
        return self.set_cookie(base, "", max_age=0, path=path)

    def to_openfaas(self) -> dict:
        headers = list(_BASE_HEADERS)
        body = self.body
        content_type = self.content_type
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            content_type = content_type or JSON_TYPE + "; charset=utf-8"
        elif body is None:
            body = ""
        elif isinstance(body, bytes):
            body = body.decode("utf-8")  # the template would send str(bytes): "b'…'"
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.extend(self.headers)
        return {"statusCode": self.status, "body": body, "headers": headers}


def json_response(data: dict | list, status: int = 200) -> Response:
    return Response(status=status, body=data)


def html_response(html: str, status: int = 200) -> Response:
    """A page rendered by a function (printable mandate, authorize error page)."""
    return Response(
        status=status, body=html, content_type="text/html; charset=utf-8", headers=list(PAGE_SECURITY_HEADERS)
    )


def redirect(location: str, status: int = 302) -> Response:
    if "\r" in location or "\n" in location:
        # Header injection through a redirect target is never legitimate.
        raise errors.BadRequest("Adresse de redirection invalide.")
    return Response(status=status, headers=[("Location", location)])


def add_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if "?" in url else "?"
    return url + separator + urlencode(params)


def error_response(err: errors.ApiError) -> Response:
    response = json_response(err.body(), err.status)
    response.headers.extend(err.headers.items())
    return response


def _budget_left(event: Any) -> float:
    """The request's budget, counted from when the gateway received it: the OpenFaaS
    gateway stamps ``X-Start-Time`` (Unix nanoseconds), so time spent queued before
    the handler ran is not time the handler may still spend. A stamp that is absent,
    malformed, in the future or older than the budget (clock skew) counts from now."""
    budget = settings().request_budget_seconds
    raw = Headers(getattr(event, "headers", None) or {}).get("x-start-time") or ""
    if raw.isascii() and raw.isdigit() and len(raw) == 19:
        waited = time.time() - int(raw) / 1e9
        if 0 <= waited <= budget:
            return budget - waited
    return budget


# -- cross-site requests ------------------------------------------------------------


def check_state_change(request: Request) -> None:
    """Every state-changing ``/api/`` request must come from our front-end (CSRF).

    * ``Origin``, when the browser sends one, must be the front-end's: a foreign page
      could otherwise end a session (logout) or act with the aidant's cookie.
    * The body must be declared JSON, also when there is none (logout, the
      référent's activate…): a cross-site ``<form>`` can only send
      ``application/x-www-form-urlencoded``, ``multipart/form-data`` or
      ``text/plain``, and ``fetch`` can send ``application/json`` to another origin
      only after a CORS preflight, which we never answer. So a request without
      ``Origin`` (older browsers, non-browser clients) is still not a forged one.

    ``/oidc/token`` is not under ``/api/``: FranceConnect posts a form to it, server to
    server, authenticated by its client secret."""
    if request.method not in STATE_CHANGING or not request.path.startswith("/api/"):
        return
    origin = request.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(settings().frontend_url):
        anonymous.log_event("cross_origin_refused", method=request.method, path=request.path, origin=origin[:200])
        raise errors.Forbidden("Requête d'une autre origine refusée.", code=codes.CROSS_ORIGIN)
    if request.content_type() != JSON_TYPE:
        raise errors.UnsupportedMediaType()


# -- the profile -----------------------------------------------------------------

_reported: set[str] = set()


def refuse_misconfigured_profile() -> None:
    """A process whose profile cannot be right answers every request 503 (a sandbox
    pointed at the production table or issuer: ``Settings.profile_problem``), and
    says why in its log once, loud enough for whoever deploys it."""
    problem = settings().profile_problem
    if problem is None:
        return
    if problem not in _reported:
        _reported.add(problem)
        log.error("refusing every request: %s", problem)
    raise errors.ServiceUnavailable(
        "Ce service est mal configuré : il refuse de fonctionner.", code=codes.MISCONFIGURED
    )


# -- routing --------------------------------------------------------------------

Handler = Callable[[Request], Response]


class Router:
    """Maps ``METHOD /path/{param}`` to small functions; owns error handling."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler, str]] = []
        self._prefixes: list[tuple[str, Handler]] = []

    def prefix(self, prefix: str, handler: Handler) -> None:
        """Every method and path at ``prefix`` or under it that no route takes goes to
        ``handler`` (a WSGI application served as a function: ``shared.wsgi``)."""
        self._prefixes.append((prefix.rstrip("/"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9_\\-]{1,128})", pattern.rstrip("/")) + "/?$")

        def decorator(fn: Handler) -> Handler:
            for m in method.split(","):
                self._routes.append((m.strip().upper(), regex, fn, pattern))
            return fn

        return decorator

    def match(self, request: Request) -> Handler:
        path_known = False
        for method, regex, fn, pattern in self._routes:
            found = regex.match(request.path)
            if found:
                path_known = True
                if method == request.method:
                    request.params = found.groupdict()
                    request.route = pattern
                    return fn
        if path_known:
            raise errors.MethodNotAllowed()
        for prefix, fn in self._prefixes:
            if request.path == prefix or request.path.startswith(prefix + "/"):
                request.route = prefix + "/*"
                return fn
        raise errors.NotFound("Cette adresse n'existe pas.")

    def dispatch(self, event: Any, context: Any = None) -> dict:
        started = time.perf_counter()
        logs.ensure_configured()
        budget.start_request(_budget_left(event))
        request = None
        try:
            request = Request.from_event(event)
            refuse_misconfigured_profile()
            handler = self.match(request)
            check_state_change(request)
            response = handler(request)
        except errors.ApiError as err:
            response = error_response(err)
        except Exception as exc:  # the one place unexpected errors are turned into answers
            if _store_outage(exc):
                log.warning("store unavailable: %s", exc)
                response = error_response(errors.ServiceUnavailable())
                response.headers.append(("Retry-After", "2"))
            else:
                log.error("unhandled error\n%s", traceback.format_exc())
                response = json_response(
                    {"error": codes.SERVER_ERROR, "error_description": "Erreur interne du service."}, 500
                )
        budget.clear_budget()
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log(event, request, response.status, elapsed_ms)
        if settings().expose_diagnostics:
            # So that benchmarks count DynamoDB calls per request without guessing.
            response.headers.append(("X-Store-Calls", str(budget.calls.count)))
            if settings().measure_store_capacity:
                response.headers.append(("X-Store-Units", _units_header()))
            response.headers.append(("Server-Timing", f"fn;dur={elapsed_ms:.1f}"))
        return response.to_openfaas()


def _store_outage(exc: BaseException) -> bool:
    """Whether the store, not the request, failed (503, not 500). The store's module is
    imported here only on this error path: a function that never talks to the store
    (``oidc_metadata``) does not load botocore to answer its requests."""
    if isinstance(exc, budget.BudgetExhausted):
        return True
    try:
        from . import store
    except ImportError:  # an image without the store's packages (oidc_metadata): not the store's error
        return False
    return store.is_outage(exc)


def _units_header() -> str:
    """The capacity units the request's DynamoDB calls consumed (bench only)."""
    calls = budget.calls
    return f"read={calls.read_units:g};write={calls.write_units:g};unmeasured={calls.unmeasured}"


_access = logging.getLogger("aidants_connect.request")
_CALL_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def access_log(event: Any, request: Request | None, status: int, elapsed_ms: float) -> None:
    """One JSON line per request, for ops: which function and route, the status, how
    long, how many DynamoDB calls, and the gateway's call id to follow a request
    across functions. The route is the template (``/api/mandates/{id}``), never the
    path: no id, token, code or e-mail of anyone goes into it."""
    if not _access.isEnabledFor(logging.INFO):
        return
    headers = request.headers if request is not None else Headers(getattr(event, "headers", None) or {})
    call_id = headers.get("x-call-id") or ""
    line = {
        "function": settings().function_name,
        "method": request.method if request else None,
        "route": getattr(request, "route", None),
        "status": status,
        "ms": round(elapsed_ms, 1),
        "store_calls": budget.calls.count,
        "call_id": call_id if _CALL_ID.fullmatch(call_id) else None,
    }
    if settings().measure_store_capacity:  # benchmarks: the async functions' units too (bench/load.py)
        line.update(
            read_units=round(budget.calls.read_units, 2),
            write_units=round(budget.calls.write_units, 2),
            unmeasured_calls=budget.calls.unmeasured,
        )
    _access.info(json.dumps(line, separators=(",", ":")))
