"""OAuth error texts and their one mapping to HTTP.

The protocol errors are Authlib's typed errors (``InvalidRequestError``,
``InvalidGrantError``…, one per RFC 6749 §4.1.2.1 / §5.2 code), raised where the
problem is found. Their ``error_description`` must stay within printable ASCII
without ``"`` or ``\\`` (RFC 6749 §5.2), so our French texts are folded to ASCII by
:func:`fr`; the error page a person may see before the redirect URI is trusted
keeps the accents.
"""

from __future__ import annotations

import unicodedata
from html import escape

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error

from .. import error_codes as codes
from ..config import settings
from ..http import Response, html_response, json_response

_REPLACE = {"«": "'", "»": "'", "“": "'", "”": "'", "’": "'", '"': "'", "\\": "/", "\u00a0": " ", "…": "..."}


def fr(text: str) -> str:
    """French text, folded to the ASCII subset RFC 6749 allows in error_description."""
    for old, new in _REPLACE.items():
        text = text.replace(old, new)
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded if 0x20 <= ord(c) <= 0x7E).strip()


class TemporarilyUnavailableError(OAuth2Error):
    """RFC 6749 §4.1.2.1: the authorization endpoint's 503, which a redirect cannot
    carry as a status."""

    error = codes.TEMPORARILY_UNAVAILABLE
    status_code = 503


def as_response(status: int, body, headers) -> Response:
    """Authlib's ``(status, body, headers)`` as our response. ``shared.http`` sends
    ``Cache-Control: no-store`` on every answer, so Authlib's is dropped (not sent
    twice); its ``Pragma: no-cache`` is kept (RFC 6749 §5.1, for HTTP/1.0 caches)."""
    response = Response(status=status, body=body if body != "" else None)
    for name, value in headers or []:
        if name.lower() == "content-type":
            response.content_type = value
        elif name.lower() != "cache-control":
            response.headers.append((name, value))
    if isinstance(body, (dict, list)):
        response.content_type = None  # shared.http sets JSON with its charset
    return response


def with_iss(location: str) -> str:
    """RFC 9207: every authorization response names its issuer, so a client talking
    to several providers can tell which one answered (mix-up attacks)."""
    return add_params_to_uri(location, [("iss", settings().issuer)])


def error_response(error: OAuth2Error) -> Response:
    """The answer to ``error``: redirected to the (trusted) redirect URI with
    ``error``, ``error_description``, ``state`` and ``iss``, or a JSON error."""
    if error.redirect_uri:
        location = add_params_to_uri(error.redirect_uri, [*error.get_body(), ("iss", settings().issuer)])
        return Response(status=302, headers=[("Location", location)])
    return as_response(*error())


def error_page(error: OAuth2Error, human_text: str, wants_html: bool) -> Response:
    """An authorization error we must not redirect (RFC 6749 §4.1.2.1): shown to the
    person whose browser FranceConnect sent here."""
    if not wants_html:
        return json_response(
            {"error": error.error, "error_description": error.get_error_description()}, error.status_code
        )
    page = (
        "<!doctype html><html lang='fr'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Connexion impossible – Aidants Connect</title>"
        "<main style='font-family:Marianne,Arial,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem'>"
        "<h1>Connexion impossible</h1>"
        f"<p>{escape(human_text)}</p>"
        "<p>Revenez sur le site de la démarche et recommencez. Si le problème persiste, "
        "signalez-le au service qui vous a envoyé ici.</p>"
        f"<p><small>Code d'erreur : {escape(error.error)}</small></p></main></html>"
    )
    return html_response(page, error.status_code)
