"""The UserInfo endpoint (OpenID Connect Core §5.3): the usager's claims, as the
granted scopes allow, to the bearer of a valid access token.

Authlib's ``UserInfoEndpoint`` needs a web framework to find the token; here the
resource protector validates the request and the answer is built the same way:
JSON, or a JWT signed with the ID-token keys when the client registered
``userinfo_signed_response_alg`` (it then carries ``iss`` and ``aud``, §5.3.2).
"""
from __future__ import annotations

import functools

from authlib.oauth2 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6750 import InvalidTokenError
from joserfc import jwt

from .. import journal
from ..config import settings
from ..http import Response, json_response
from ..store import Autorisation, Item, Usager
from . import claims, clients, errors, events, grants, tokens
from .errors import fr


def represented_usager(token) -> Usager:
    """The token's usager, if the mandate still covers the démarche: a revocation in
    the token's five minutes stops it too. One BatchGet, as the usager alone was."""
    keys = [Usager.key(token.usager_id), Autorisation.key(token.mandate_id, token.demarche)]
    found = {(i.pk, i.sk): i for i in Item.batch_get(keys, consistent_read=True)}
    usager, autorisation = (found.get(k) for k in keys)
    if not isinstance(usager, Usager):
        raise InvalidTokenError(fr("L'usager de ce jeton n'existe plus."), realm=tokens.REALM)
    if not grants.covers(autorisation, token):
        raise InvalidTokenError(fr("Le mandat ne couvre plus cette démarche pour cet usager (révoqué ou expiré)."),
                                realm=tokens.REALM)
    return usager


@functools.lru_cache(maxsize=1)
def protector() -> ResourceProtector:
    protector = ResourceProtector()
    protector.register_token_validator(tokens.BearerTokenValidator())
    return protector


def respond(oauth_request) -> Response:
    try:
        bearer = protector().validate_request(["openid"], oauth_request)
        client = clients.find(bearer.client_id)
        if client is None:
            raise InvalidTokenError(fr("Le service de ce jeton n'est plus enregistré."), realm=tokens.REALM)
        usager = represented_usager(bearer.item)
    except OAuth2Error as error:
        events.refused("/oidc/userinfo", error.error, description=error.get_error_description())
        return errors.error_response(error)

    token = bearer.item
    info = claims.user_info(usager, client.get_client_id(), token.scope)
    journal.record(events.USERINFO_SERVED, aidant_id=token.aidant_id, structure_id=token.structure_id,
                   usager_id=token.usager_id, mandate_id=token.mandate_id, demarche=token.demarche,
                   client_id=token.client_id, details={"claims": ",".join(sorted(info))})
    alg = client.userinfo_signed_response_alg
    if not alg:
        return json_response(dict(info))
    signed = jwt.encode(tokens.jws_header(client, alg),
                        {**info, "iss": settings().issuer, "aud": client.get_client_id()},
                        tokens.signing_key(client, alg), algorithms=[alg])
    return Response(status=200, body=signed, content_type="application/jwt")
