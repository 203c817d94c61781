"""What the OIDC functions call: one entry point per public route (openapi.yaml).
Each takes our :class:`~shared.http.Request` and returns a
:class:`~shared.http.Response`; protocol errors are answered here, other errors by
``shared.http``'s router."""

from __future__ import annotations

import base64

from authlib.oauth2 import OAuth2Error

from .. import error_codes as codes
from .. import errors as api_errors
from .. import sessions
from ..http import Request, Response, json_response, redirect
from ..http import error_response as api_error_response
from . import authorize as checks
from . import errors, events, metadata, tokens, transactions
from . import userinfo as userinfo_endpoint
from .server import FunctionRequest, server

# Served by oidc_metadata from ``metadata`` itself (no store import there).
discovery = metadata.discovery_response
jwks = metadata.jwks_response


def authorize(request: Request) -> Response:
    """GET or POST /oidc/authorize (OpenID Connect Core §3.1.2.1: both MUST be
    supported): check the request, store it, set the browser's cookie for it and send
    the aidant to the front-end."""
    params: dict = {}
    try:
        params, repeated = checks.read_parameters(request)
        _client, redirect_uri = checks.check_before_redirect(params, repeated)
        checks.check_after_redirect(params, redirect_uri, lambda: _aidant_logged_in(request))
        grant = server().get_consent_grant(FunctionRequest(request.method, request.path, request.headers, params))
        txn, browser_token = transactions.open_transaction(grant)
    except OAuth2Error as error:
        events.refused_anonymous(
            "/oidc/authorize", error.error, description=error.get_error_description(), client_id=params.get("client_id")
        )
        if error.redirect_uri:
            return errors.error_response(error)  # back to the client, with error, state and iss
        return errors.error_page(
            error,
            getattr(error, "human", error.get_error_description()),
            wants_html="text/html" in (request.headers.get("accept") or ""),
        )
    response = redirect(transactions.frontend_url(txn))
    # Lax: sent with the front-end's own requests, and set although FranceConnect's
    # redirect is a cross-site navigation (top-level navigations may set cookies).
    response.set_cookie(transactions.browser_cookie_name(txn.id), browser_token, max_age=transactions.TRANSACTION_TTL)
    return response


def _aidant_logged_in(request: Request) -> bool:
    """Whether this browser holds a valid aidant session (for ``prompt=none``). A
    cross-site POST does not carry the session cookie (SameSite=Lax): no session."""
    try:
        sessions.authenticate(request)
    except api_errors.ApiError:
        return False
    return True


def transaction(request: Request) -> Response:
    """GET /api/fi/transactions/{txn}: what the aidant may choose from (using a
    mandate: the terms of use accepted, ``shared.cgu``)."""
    txn_id = request.params["txn"]
    caller, read = sessions.authenticate_with(request, transactions.T.key(txn_id), acting=True)
    browser = request.cookie(transactions.browser_cookie_name(txn_id))
    return json_response(transactions.offer(caller, txn_id, browser, read))


def choose(request: Request) -> Response:
    """POST /api/fi/transactions/{txn}: the aidant's choice → the code, through Authlib."""
    txn_id = request.params["txn"]
    # The choice names the usager and the mandate (the offer gave its id): their items
    # are read in the session's BatchGet. Only where to look: ``transactions.choose``
    # checks the body, and what the items say, after the session.
    caller, read = sessions.authenticate_with(
        request, transactions.T.key(txn_id), *transactions.choice_keys(request), acting=True
    )
    browser = request.cookie(transactions.browser_cookie_name(txn_id))
    body = request.json()

    def respond(txn, choice) -> Response:
        oauth_request = FunctionRequest("GET", "/oidc/authorize", {}, transactions.authorization_params(txn))
        answer = server().create_authorization_response(
            oauth_request, grant_user=choice, grant=server().get_authorization_grant(oauth_request)
        )
        location = dict(answer.headers).get("Location")
        if answer.status == 302 and location:
            # The front-end navigates there: the code (or a protocol error) goes back
            # to the client's redirect URI exactly as a redirect would carry it.
            return json_response({"redirect_to": location})
        return answer

    return transactions.choose(caller, txn_id, browser, body, respond, read)


def token(request: Request) -> Response:
    """POST /oidc/token (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3). Every answer,
    success or error, carries ``Cache-Control: no-store`` (``shared.http``) and
    ``Pragma: no-cache`` (RFC 6749 §5.1, §5.2)."""
    try:
        response = _token(request)
    except api_errors.ApiError as err:  # a body that is no form (``tokens.read_form``)
        events.refused_anonymous("/oidc/token", err.code, description=err.description)
        response = api_error_response(err)
    if not any(name.lower() == "pragma" for name, _ in response.headers):
        response.headers.append(("Pragma", "no-cache"))
    return response


def _token(request: Request) -> Response:
    header = request.headers.get("authorization")
    basic = header is not None and header[:6].lower() == "basic "
    if basic and not _basic_credentials_readable(header):
        # Authlib would fail decoding them (a 500); RFC 6749 §5.2 says invalid_client.
        events.refused_anonymous("/oidc/token", "invalid_client", description="unreadable Basic credentials")
        response = json_response(
            {"error": codes.INVALID_CLIENT, "error_description": "Authentification du client invalide."}, 401
        )
        response.headers.append(("WWW-Authenticate", 'Basic realm="aidantsconnect"'))
        return response
    if basic:
        form = tokens.read_form(request)
        if form.get("client_secret") or form.get("client_assertion"):
            # RFC 6749 §2.3: "The client MUST NOT use more than one authentication
            # method in each request"; §5.2 names this case under invalid_request
            # ("utilizes more than one mechanism for authenticating the client"), not
            # invalid_client (no authentication failed: the request is malformed).
            # Refused before either is checked: which one would count is not ours to pick.
            events.refused_anonymous(
                "/oidc/token",
                "invalid_request",
                client_id=form.get("client_id"),
                description="more than one client authentication method",
            )
            return json_response(
                {
                    "error": codes.INVALID_REQUEST,
                    "error_description": "Le client doit s'authentifier d'une seule facon : "
                    "en-tete Basic ou client_secret dans le corps, pas les deux.",
                },
                400,
            )
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
    """GET, POST /oidc/userinfo (OpenID Connect Core §5.3, RFC 6750)."""
    return userinfo_endpoint.respond(request)
