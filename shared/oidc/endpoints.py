"""What the OIDC functions call: one entry point per public route (DESIGN.md §3).
Each takes our :class:`~shared.http.Request` and returns a
:class:`~shared.http.Response`; protocol errors are answered here, other errors by
``shared.http``'s router."""
from __future__ import annotations

import base64

from authlib.oauth2 import OAuth2Error

from .. import sessions
from ..http import Request, Response, json_response, redirect
from . import authorize as checks, errors, events, metadata, transactions, userinfo as userinfo_endpoint
from .server import FunctionRequest, server


def discovery(request: Request) -> Response:
    return json_response(metadata.discovery())


def jwks(request: Request) -> Response:
    return json_response(metadata.jwks())


def authorize(request: Request) -> Response:
    """GET /oidc/authorize: check the request, store it, send the aidant to the front-end."""
    try:
        checks.check_before_redirect(request)
        grant = server().get_consent_grant(request)
    except OAuth2Error as error:
        events.refused("/oidc/authorize", error.error, description=error.get_error_description(),
                       client_id=request.query.get("client_id"))
        if error.redirect_uri:
            return errors.error_response(error)  # back to the client, with error and state
        return errors.error_page(error, getattr(error, "human", error.get_error_description()),
                                 wants_html="text/html" in (request.headers.get("accept") or ""))
    return redirect(transactions.frontend_url(transactions.open_transaction(grant)))


def transaction(request: Request) -> Response:
    """GET /api/fi/transactions/{txn}: what the aidant may choose from."""
    txn_id = request.params["txn"]
    caller, read = sessions.authenticate_with(request, transactions.T.key(txn_id))
    return json_response(transactions.offer(caller, txn_id, read))


def choose(request: Request) -> Response:
    """POST /api/fi/transactions/{txn}: the aidant's choice → the code, through Authlib."""
    txn_id = request.params["txn"]
    caller, read = sessions.authenticate_with(request, transactions.T.key(txn_id))
    body = request.json()

    def respond(txn, choice) -> Response:
        oauth_request = FunctionRequest("GET", "/oidc/authorize", {}, transactions.authorization_params(txn))
        answer = server().create_authorization_response(
            oauth_request, grant_user=choice, grant=server().get_authorization_grant(oauth_request))
        location = dict(answer.headers).get("Location")
        if answer.status == 302 and location:
            # The front-end navigates there: the code (or a protocol error) goes back
            # to the client's redirect URI exactly as a redirect would carry it.
            return json_response({"redirect_to": location})
        return answer

    return transactions.choose(caller, txn_id, body, respond, read)


def token(request: Request) -> Response:
    """POST /oidc/token (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3)."""
    if not _basic_credentials_readable(request.headers.get("authorization")):
        # Authlib would fail decoding them (a 500); RFC 6749 §5.2 says invalid_client.
        response = json_response({"error": "invalid_client",
                                  "error_description": "Authentification du client invalide."}, 401)
        response.headers.append(("WWW-Authenticate", 'Basic realm="aidantsconnect"'))
        return response
    return server().create_token_response(request)


def _basic_credentials_readable(header: str | None) -> bool:
    if not header or not header[:6].lower() == "basic ":
        return True
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded


def userinfo(request: Request) -> Response:
    """GET, POST /oidc/userinfo (OpenID Connect Core §5.3)."""
    return userinfo_endpoint.respond(server().create_oauth2_request(request))
