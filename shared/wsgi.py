"""A WSGI application served as a ``python3-http`` function, through
``shared.http``'s dispatch (the profile check, errors, the access line, the
diagnostics headers): how the training sandbox deploys its FranceConnect stand-in
and its demo site, which ``make up`` runs inside the local gateway instead
(``local/franceconnect``, ``local/fi_demo``)."""

from __future__ import annotations

import io
import sys
from typing import Callable
from urllib.parse import urlencode, urlsplit

from . import errors
from .config import settings
from .http import Handler, Request, Response


def environ_for(request: Request) -> dict:
    issuer = urlsplit(settings().issuer)
    environ = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": urlencode(request.query),
        "SERVER_NAME": issuer.hostname or "localhost",
        "SERVER_PORT": str(issuer.port or (443 if issuer.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": issuer.scheme or "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(request.body)),
    }
    for name in ("content-type", "cookie", "authorization", "accept", "accept-language", "user-agent"):
        value = request.headers.get(name)
        if value is not None:
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    return environ


def handler_for(app: Callable, sandbox_only: bool = True) -> Handler:
    """A ``shared.http`` handler calling ``app``. ``sandbox_only``: outside the
    sandbox profile it answers 404, as if it were not there."""

    def handler(request: Request) -> Response:
        if sandbox_only and not settings().sandbox:
            raise errors.NotFound("Cette adresse n'existe pas.")
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        chunks = app(environ_for(request), start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "content-type")]
        content_type = next((v for k, v in captured["headers"] if k.lower() == "content-type"), None)
        # Text, never bytes: the template would send str(bytes), "b'…'" (docs/architecture.md §8).
        return Response(
            status=int(captured["status"].split()[0]),
            body=body.decode("utf-8", "replace"),
            headers=headers,
            content_type=content_type,
        )

    return handler
