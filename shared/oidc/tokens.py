"""Lifetimes, access tokens (RFC 6750) and the keys that sign what we issue.

Access tokens are opaque: 256 random bits, stored as their keyed hash with the
usager, scope and client they were issued for, a ``ttl`` and an ``expires_at`` that
is checked on every use. Authlib's default lifetime for an authorization-code token
is ten days; ours is minutes, as FranceConnect calls userinfo right after the token.
"""
from __future__ import annotations

import time

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from joserfc.jwk import Key, OctKey
from pynamodb.exceptions import DoesNotExist

from .. import crypto, errors as api_errors, journal, notifications, stats
from .. import error_codes as codes
from ..store import AccessToken, AuthorizationCode, Structure, now, transaction, writes
from . import clients, events, keys
from .errors import fr

CODE_TTL = 60  # RFC 6749 §4.1.2: "expire shortly after it is issued"
ACCESS_TOKEN_TTL = 300
ID_TOKEN_TTL = 300
TOKEN_PURPOSE = "oidc-access-token"
REALM = "aidantsconnect"


def read_form(request) -> dict[str, str]:
    """The token endpoint's form body; anything else is an OAuth ``invalid_request``."""
    try:
        return request.form()
    except api_errors.ApiError as err:
        raise api_errors.BadRequest(fr(err.description), code=codes.INVALID_REQUEST)


# -- access tokens -------------------------------------------------------------------

def save(token: dict, request) -> AccessToken:
    """Store the token and tie it to its code, unless the code was replayed meanwhile."""
    code = request.authorization_code
    user = request.user
    now_s = int(time.time())
    expires_in = int(token.get("expires_in") or ACCESS_TOKEN_TTL)
    token_hash = crypto.keyed_hash(token["access_token"], TOKEN_PURPOSE)
    source = code.item
    pk, sk = AccessToken.key(token_hash)
    item = AccessToken(pk=pk, sk=sk, client_id=source.client_id, scope=token.get("scope") or source.scope,
                       usager_id=user.usager.id, aidant_id=source.aidant_id, structure_id=source.structure_id,
                       mandate_id=source.mandate_id, demarche=source.demarche, code_hash=code.code_hash,
                       expires_at=now_s + expires_in, ttl=now_s + expires_in, created_at=now())
    C = AuthorizationCode
    notice = _demarche_done_notice(user.usager, source, getattr(request, "client", None),
                                   getattr(user, "structure", None))
    replayed = InvalidGrantError(fr("Ce code d'autorisation a été rejoué : aucun jeton n'est délivré."))
    try:
        with transaction(replayed) as tx:
            tx.save(item, condition=AccessToken.pk.does_not_exist())
            # The code is consumed here, with the token, or not at all.
            tx.update(C(*C.key(code.code_hash)), actions=[C.used_at.set(now_s), C.access_token_hash.set(token_hash)],
                      condition=code.redeem_condition(request.client))
            tx.save(issued := journal.entry(events.TOKEN_ISSUED, aidant_id=source.aidant_id,
                                  structure_id=source.structure_id, usager_id=source.usager_id,
                                  mandate_id=source.mandate_id, demarche=source.demarche,
                                  client_id=source.client_id,
                                  details={"scope": item.scope, "expires_in": expires_in}),
                    condition=journal.append_condition())
            stats.count_demarche_done(tx, issued)  # the public figures (shared.stats): one more operation
            if notice is not None:
                tx.save(notice, condition=notifications.save_condition())
    except InvalidGrantError:
        # Redeemed by a concurrent request, expired or replayed meanwhile.
        code.refuse(request.client)
        raise
    notifications.kick(notice)
    return item


def _demarche_done_notice(usager, source: AuthorizationCode, client, structure: Structure | None = None):
    """The usager is told a démarche was carried out in their name when FranceConnect
    receives their identity, i.e. with the token, in the token's own transaction.
    ``structure``: already read with the mandate (``grants.still_represented``)."""
    if not usager.email:
        return None
    if structure is None:
        try:
            structure = Structure.get(*Structure.key(source.structure_id))
        except DoesNotExist:
            return None
    return notifications.demarche_done_item(usager, structure, source.demarche,
                                            service=getattr(client, "name", None))


def revoke(token_hash: str) -> bool:
    """False when the token is already gone (ttl): nothing left to revoke."""
    return writes.update(AccessToken(*AccessToken.key(token_hash)), [AccessToken.revoked_at.set(int(time.time()))],
                         AccessToken.pk.exists())


class Bearer:
    """An access token as Authlib's resource protector sees it."""

    def __init__(self, item: AccessToken):
        self.item = item
        self.client_id = item.client_id
        self.scope = item.scope

    def get_scope(self):
        return self.item.scope

    def get_expires_in(self):
        return max(0, int(self.item.expires_at) - int(time.time()))

    def is_expired(self):
        return int(self.item.expires_at) <= int(time.time())

    def is_revoked(self):
        return self.item.revoked_at is not None

    def check_client(self, client):
        return self.item.client_id == client.get_client_id()

    def get_client(self):
        return clients.find(self.item.client_id)

    def get_user(self):
        return self.item.usager_id


class BearerTokenValidator(_BearerTokenValidator):
    def __init__(self):
        super().__init__(realm=REALM)

    def authenticate_token(self, token_string):
        if not token_string or len(token_string) > 128:
            return None
        try:
            # Strongly consistent: a token revoked a moment ago must not work.
            item = AccessToken.get(*AccessToken.key(crypto.keyed_hash(token_string, TOKEN_PURPOSE)),
                                   consistent_read=True)
        except DoesNotExist:
            return None
        return Bearer(item)

    def validate_token(self, token, scopes, request):
        if token is None:
            raise self._invalid("Jeton d'accès inconnu.")
        if token.is_expired():
            raise self._invalid("Jeton d'accès expiré.")
        if token.is_revoked():
            raise self._invalid("Jeton d'accès révoqué.")
        if self.scope_insufficient(token.get_scope(), scopes):
            raise InsufficientScopeError()

    def _invalid(self, text: str) -> InvalidTokenError:
        return InvalidTokenError(fr(text), realm=self.realm)


# -- signing what we issue -----------------------------------------------------------

def signing_alg(client, registered: str | None) -> str:
    """The client's registered algorithm, or the server's default (newest key)."""
    return registered or keys.current().default_alg


def jws_header(client, alg: str) -> dict:
    if alg == clients.LEGACY_ALG:
        return {"alg": alg}
    return {"alg": alg, "kid": keys.current().signing_key(alg).kid}


def signing_key(client, alg: str) -> Key:
    """The newest key of ``alg``; for a legacy client, HS256 with its own secret, as
    the service this replaces did (which is why that secret is sealed, not hashed)."""
    if alg == clients.LEGACY_ALG:
        return OctKey.import_key(client.clear_secret())
    return keys.current().signing_key(alg)
