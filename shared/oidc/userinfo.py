"""The UserInfo endpoint (OpenID Connect Core §5.3): the usager's claims, as the
granted scopes allow, to the bearer of a valid access token.

The token is read as RFC 6750 §2 allows: in the ``Authorization: Bearer`` header
(§2.1) or in a form-encoded POST body as ``access_token`` (§2.2), never both (§2:
"MUST NOT use more than one method"). Errors are RFC 6750 §3's: 401 with
``WWW-Authenticate: Bearer realm=…, error="invalid_token"``, 400 ``invalid_request``
for a malformed request, and, when the request carries no token at all, 401 with
the realm and no error code (§3.1). The answer is JSON, or a JWT signed with the
ID-token keys when the client registered ``userinfo_signed_response_alg`` (it then
carries ``iss`` and ``aud``, §5.3.2).

Refusals: an unknown, expired or revoked token authenticates nobody, so it is only
logged; a valid token whose mandate was revoked (or whose usager or client is gone)
is journaled with who it was issued for. An answer is not journaled: the token's
issuance was, with the names of the claims its ID token carried, which are the ones
served here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import InvalidTokenError
from joserfc import jwt

from .. import error_codes as codes
from ..config import settings
from ..http import FORM_TYPE, Request, Response, json_response
from ..store import Autorisation, Usager, read
from . import claims, clients, events, grants, tokens
from .errors import fr

ENDPOINT = "/oidc/userinfo"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class BearerError(Exception):
    """A refusal as RFC 6750 §3 words it."""

    def __init__(self, status: int, error: str | None, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, fr(description)

    def response(self) -> Response:
        challenge = [f'realm="{tokens.REALM}"']
        if self.error:
            # Our descriptions are folded to RFC 6749's ASCII subset: no quote, no backslash.
            challenge += [f'error="{self.error}"', f'error_description="{self.description}"']
        response = json_response(
            {"error": self.error or codes.INVALID_TOKEN, "error_description": self.description}, self.status
        )
        response.headers.append(("WWW-Authenticate", "Bearer " + ", ".join(challenge)))
        return response


def _invalid_request(text: str) -> BearerError:
    return BearerError(400, codes.INVALID_REQUEST, text)


def access_token(request: Request) -> str:
    """The bearer token of this request, from the header or the form body."""
    in_header = None
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            value = value.strip()
            if not _B64TOKEN.fullmatch(value):
                raise _invalid_request("En-tête Authorization mal formé : Bearer <jeton> est attendu.")
            in_header = value
        # Another scheme (Basic…) is no bearer token: as if none were given (§3.1).
    in_body = None
    if request.method == "POST" and request.body and request.content_type() == FORM_TYPE:
        if len(request.body) > settings().max_body_bytes:
            raise _invalid_request("Requête trop volumineuse.")
        try:
            sent = [
                value
                for name, value in parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
                if name == "access_token"
            ]
        except UnicodeDecodeError as err:
            raise _invalid_request("Le corps de la requête n'est pas de l'UTF-8 valide.") from err
        if len(sent) > 1:
            raise _invalid_request("Paramètre access_token répété.")
        if sent:
            if not sent[0]:
                raise _invalid_request("Paramètre access_token vide.")
            in_body = sent[0]
    if in_header and in_body is not None:
        raise _invalid_request("Le jeton d'accès doit être envoyé d'une seule façon : en-tête ou corps, pas les deux.")
    token = in_header or in_body
    if not token:
        raise BearerError(401, None, "Jeton d'accès manquant.")
    return token


def represented_usager(bearer: tokens.Bearer):
    """The token's usager, if the mandate still covers the démarche: a revocation in
    the token's five minutes stops it too. The autorisation was read with the token
    (its value names it) and the identity is on the token: no more store calls. A
    token issued before either existed reads the usager and the autorisation in one
    BatchGet, as before."""
    token = bearer.item
    autorisation = bearer.autorisation
    usager: Usager | claims.Identity | None = claims.identity_from(token.usager_claims) if token.usager_claims else None
    keys = ([] if usager is not None else [Usager.key(token.usager_id)]) + (
        [Autorisation.key(token.mandate_id, token.demarche)] if autorisation is tokens.NOT_READ else []
    )
    if keys:
        found = read(keys, consistent=True)
        if usager is None:
            stored = found.get(Usager.key(token.usager_id))
            usager = stored if isinstance(stored, Usager) else None
        if autorisation is tokens.NOT_READ:
            autorisation = found.get(Autorisation.key(token.mandate_id, token.demarche))
    if usager is None:
        raise InvalidTokenError(fr("L'usager de ce jeton n'existe plus."), realm=tokens.REALM)
    if not grants.covers(autorisation, token):
        raise InvalidTokenError(
            fr("Le mandat ne couvre plus cette démarche pour cet usager (révoqué ou expiré)."), realm=tokens.REALM
        )
    return usager


def _refusal(error: OAuth2Error) -> BearerError:
    return BearerError(error.status_code, error.error, error.get_error_description())


def respond(request: Request) -> Response:
    validator = tokens.BearerTokenValidator()
    bearer = None
    try:
        bearer = validator.authenticate_token(access_token(request))
        validator.validate_token(bearer, ["openid"], None)
    except BearerError as refusal:
        events.refused_anonymous(ENDPOINT, refusal.error or "missing_token", description=refusal.description)
        return refusal.response()
    except OAuth2Error as error:
        # Unknown, expired or revoked: nobody is authenticated.
        events.refused_anonymous(
            ENDPOINT,
            error.error,
            description=error.get_error_description(),
            client_id=bearer.client_id if bearer is not None else None,
        )
        return _refusal(error).response()

    token = bearer.item
    who = dict(
        aidant_id=token.aidant_id,
        structure_id=token.structure_id,
        usager_id=token.usager_id,
        mandate_id=token.mandate_id,
        demarche=token.demarche,
        client_id=token.client_id,
    )
    try:
        client = clients.find(bearer.client_id)
        if client is None:
            raise InvalidTokenError(fr("Le service de ce jeton n'est plus enregistré."), realm=tokens.REALM)
        usager = represented_usager(bearer)
    except OAuth2Error as error:
        events.refused(ENDPOINT, error.error, description=error.get_error_description(), **who)
        return _refusal(error).response()

    # Not journaled: the ID token already carried these claims to this client, and
    # its issuance is (``oidc_token_issued``, with the claims' names): serving them
    # again discloses nothing new, and a store write per userinfo call would be a
    # third of this endpoint's cost. Refusals of a valid token are journaled above.
    info = claims.user_info(usager, client.get_client_id(), token.scope)
    alg = client.userinfo_signed_response_alg
    if not alg:
        return json_response(dict(info))
    signed = jwt.encode(
        tokens.jws_header(client, alg),
        {**info, "iss": settings().issuer, "aud": client.get_client_id()},
        tokens.signing_key(client, alg),
        algorithms=[alg],
    )
    return Response(status=200, body=signed, content_type="application/jwt")
