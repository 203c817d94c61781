"""Authlib's authorization server, wired to OpenFaaS functions and our store.

Authlib does the protocol (RFC 6749, RFC 7636, OpenID Connect Core); this module
only answers its questions the way a web-framework integration would: how to read
a request, how to send a response, where clients and tokens live. One server per
process, built on first use; it keeps no per-request state, so waitress's threads
share it.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, JsonPayload, JsonRequest
from authlib.oauth2.rfc6750 import BearerTokenGenerator

from ..config import settings
from ..http import Request, Response
from . import claims, clients, errors, events, grants, tokens


class FunctionRequest(OAuth2Request):
    """A request as Authlib sees it. The URI is built from the configured issuer,
    never from the Host header (which the caller controls)."""

    def __init__(self, method: str, path: str, headers, args: dict[str, str], form: dict[str, str] | None = None):
        super().__init__(method, settings().issuer + path, headers=headers)
        self._args = dict(args)
        self._form = form or {}
        self.payload = BasicOAuth2Payload({**self._args, **self._form})

    @classmethod
    def from_http(cls, request: Request) -> FunctionRequest:
        form = tokens.read_form(request) if request.method == "POST" else None
        return cls(request.method, request.path, request.headers, request.query, form)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class _Json(JsonPayload):
    def __init__(self, data: dict):
        self._data = data

    @property
    def data(self):
        return self._data


class Server(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(scopes_supported=claims.SCOPES_SUPPORTED)
        self._hooks = grants.ordered_hooks()
        self.register_token_generator(
            "default", BearerTokenGenerator(tokens.new_access_token, expires_generator=tokens.ACCESS_TOKEN_TTL)
        )
        # Our own checks of an authentication request run before Authlib's, in a
        # fixed order (``authorize.check_after_redirect``).
        self.register_grant(
            grants.AuthorizationCodeGrant,
            [
                grants.OpenIDCode(require_nonce=True),
                grants.CodeChallenge(required=False),
            ],
        )

    def validate_requested_scope(self, scope):
        """OpenID Connect Core §5.4: scope values the provider does not understand
        SHOULD be ignored (Authlib refuses them); ``Client.get_allowed_scope`` drops
        them from what is granted, and ``openid`` is checked in ``authorize``."""

    # -- the questions Authlib asks -----------------------------------------------------
    def query_client(self, client_id):
        return clients.find(client_id)

    def save_token(self, token, request):
        return tokens.save(token, request)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        return FunctionRequest.from_http(request)

    def create_json_request(self, request):
        json_request = JsonRequest(request.method, settings().issuer + request.path, request.headers)
        json_request.payload = _Json(request.json())
        return json_request

    def handle_response(self, status, body, headers) -> Response:
        return errors.as_response(status, body, headers)

    def send_signal(self, name, *args, **kwargs):
        # No listeners: the journal is written where each step happens. Authlib names
        # the client it has just authenticated here, before any later check can fail:
        # a refusal after this point is an authenticated client's.
        if name == "after_authenticate_client":
            kwargs["grant"].request.authenticated_client = kwargs["client"]

    def handle_error_response(self, request, error):
        path = urlsplit(request.uri).path
        client = getattr(request, "authenticated_client", None)
        if path == "/oidc/authorize" or client is not None:
            # The aidant's choice (``endpoints.choose``, behind a session), or the token
            # endpoint once the client is authenticated: journaled.
            claimed = client or getattr(request, "client", None)
            events.refused(
                path,
                error.error,
                description=error.get_error_description(),
                client_id=claimed.client_id if claimed else request.payload.client_id,
            )
        else:
            events.refused_anonymous(
                path, error.error, description=error.get_error_description(), client_id=request.payload.client_id
            )
        return errors.error_response(error)


@functools.lru_cache(maxsize=1)
def server() -> Server:
    return Server()
