"""Lifetimes, access tokens (RFC 6750) and the keys that sign what we issue.

Access tokens are opaque: 256 random bits, stored as their keyed hash with the
usager, scope and client they were issued for, a ``ttl`` and an ``expires_at`` that
is checked on every use. Authlib's default lifetime for an authorization-code token
is ten days; ours is minutes, as FranceConnect calls userinfo right after the token.
"""

from __future__ import annotations

import re
import time

from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from joserfc.jwk import Key, OctKey
from pynamodb.exceptions import DoesNotExist

from .. import crypto, journal, mandates, notifications, stats
from .. import error_codes as codes
from .. import errors as api_errors
from ..store import AccessToken, AuthorizationCode, Autorisation, Structure, now, read, transaction, writes
from . import claims, clients, events, keys
from .errors import fr

CODE_TTL = 60  # RFC 6749 §4.1.2: "expire shortly after it is issued"
ACCESS_TOKEN_TTL = 300
ID_TOKEN_TTL = 300
TOKEN_PURPOSE = "oidc-access-token"
REALM = "aidantsconnect"
NOT_READ = object()  # a token's autorisation, when it was not read with the token


def read_form(request) -> dict[str, str]:
    """The token endpoint's form body; anything else is an OAuth ``invalid_request``."""
    try:
        return request.form()
    except api_errors.ApiError as err:
        raise api_errors.BadRequest(fr(err.description), code=codes.INVALID_REQUEST) from err


# -- access tokens -------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_-]{1,64}"
_NAMED = re.compile(rf"({_NAME})\.({_NAME})\.[A-Za-z0-9_-]{{43}}")


def new_access_token(user=None, **_) -> str:
    """256 random bits, after the mandate and the démarche the token acts under
    (``<mandate>.<démarche>.<random>``): userinfo then reads the token and its
    autorisation in one BatchGet. The names are only where to look: the keyed hash
    covers the whole value, so other names find no token, and what the token item
    says is what counts (``autorisation_key_of``)."""
    random_part = crypto.new_token()
    code = getattr(getattr(user, "code", None), "mandate_id", None) and user.code
    if code is not None and re.fullmatch(_NAME, code.mandate_id) and re.fullmatch(_NAME, code.demarche):
        return f"{code.mandate_id}.{code.demarche}.{random_part}"
    return random_part


def autorisation_key_of(token_string: str) -> tuple[str, str] | None:
    """The autorisation a token's value names, if it names one."""
    named = _NAMED.fullmatch(token_string or "")
    return Autorisation.key(named[1], named[2]) if named else None


def save(token: dict, request) -> AccessToken:
    """Store the token and consume its code, unless the code was replayed meanwhile
    or the autorisation no longer covers the démarche: one transaction, with a
    ``ConditionCheck`` on the autorisation (a revocation since the choice issues no
    token, and the code stays unconsumed)."""
    code = request.authorization_code
    user = request.user
    now_s = int(time.time())
    expires_in = int(token.get("expires_in") or ACCESS_TOKEN_TTL)
    token_hash = crypto.keyed_hash(token["access_token"], TOKEN_PURPOSE)
    source = code.item
    pk, sk = AccessToken.key(token_hash)
    item = AccessToken(
        pk=pk,
        sk=sk,
        client_id=source.client_id,
        scope=token.get("scope") or source.scope,
        usager_id=user.usager.id,
        aidant_id=source.aidant_id,
        structure_id=source.structure_id,
        mandate_id=source.mandate_id,
        demarche=source.demarche,
        code_hash=code.code_hash,
        usager_claims=source.usager_claims,
        expires_at=now_s + expires_in,
        ttl=now_s + expires_in,
        created_at=now(),
    )
    C = AuthorizationCode
    notice = _demarche_done_notice(
        user.usager, source, getattr(request, "client", None), getattr(user, "structure", None)
    )
    issued = journal.entry(
        events.TOKEN_ISSUED,
        aidant_id=source.aidant_id,
        structure_id=source.structure_id,
        usager_id=source.usager_id,
        mandate_id=source.mandate_id,
        demarche=source.demarche,
        client_id=source.client_id,
        details={
            "scope": item.scope,
            "expires_in": expires_in,
            # What the ID token (and userinfo, not journaled) discloses.
            "claims": ",".join(sorted(claims.user_info(user.usager, source.client_id, item.scope))),
        },
    )
    checked: tuple[str, str] = getattr(user, "autorisation_key", None) or Autorisation.key(
        source.mandate_id, source.demarche
    )
    for attempt in range(2):
        replayed = InvalidGrantError(fr("Ce code d'autorisation a été rejoué : aucun jeton n'est délivré."))
        try:
            with transaction(replayed) as tx:
                tx.condition_check(
                    Autorisation, *checked, condition=mandates.covers_condition(source.structure_id, source.usager_id)
                )
                tx.save(item, condition=AccessToken.pk.does_not_exist())
                # The code is consumed here, with the token, or not at all.
                tx.update(
                    C(*C.key(code.code_hash)),
                    actions=[C.used_at.set(now_s), C.access_token_hash.set(token_hash)],
                    condition=code.redeem_condition(request.client),
                )
                tx.save(issued, condition=journal.append_condition())
                stats.count_demarche_done(tx, issued)  # the public figures (shared.stats): one more operation
                if notice is not None:
                    tx.save(notice, condition=notifications.save_condition())
            break
        except InvalidGrantError as err:
            if err is not replayed:
                raise
            refused = writes.refused_keys(tx, err.__cause__)
            if checked in refused and C.key(code.code_hash) not in refused:
                # Revoked, expired or renewed since the choice: renewed, the new
                # mandate may cover the démarche (checked the same way, once).
                covering = _covering_now(source) if attempt == 0 else None
                if covering is None:
                    raise InvalidGrantError(
                        fr("Le mandat ne couvre plus cette démarche pour cet usager (révoqué ou expiré).")
                    ) from err
                checked = covering
                continue
            # Redeemed by a concurrent request, expired or replayed meanwhile.
            code.refuse(request.client)
            raise
    notifications.kick(notice)
    return item


def _covering_now(source: AuthorizationCode) -> tuple[str, str] | None:
    from .grants import covering_key  # grants imports this module

    try:
        autorisation = Autorisation.get(*Autorisation.key(source.mandate_id, source.demarche), consistent_read=True)
    except DoesNotExist:
        return None
    return covering_key(autorisation, source)


def _demarche_done_notice(usager, source: AuthorizationCode, client, structure=None):
    """The usager is told a démarche was carried out in their name when FranceConnect
    receives their identity, i.e. with the token, in the token's own transaction.
    ``structure``: its name and address, as the code carries them (or as read with
    the mandate, for a code written before it did)."""
    if not usager.email:
        return None
    if structure is None:
        try:
            structure = Structure.get(*Structure.key(source.structure_id))
        except DoesNotExist:
            return None
    return notifications.demarche_done_item(usager, structure, source.demarche, service=getattr(client, "name", None))


def revoke(token_hash: str) -> bool:
    """False when the token is already gone (ttl): nothing left to revoke."""
    return writes.update(
        AccessToken(*AccessToken.key(token_hash)),
        [AccessToken.revoked_at.set(int(time.time()))],
        AccessToken.pk.exists(),
    )


class Bearer:
    """An access token as Authlib's resource protector sees it, and the autorisation
    it names when that was read in the same BatchGet (``_NOT_READ`` otherwise)."""

    def __init__(self, item: AccessToken, autorisation=None):
        self.item = item
        self.client_id = item.client_id
        self.scope = item.scope
        self.autorisation = autorisation

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
        key = AccessToken.key(crypto.keyed_hash(token_string, TOKEN_PURPOSE))
        named = autorisation_key_of(token_string)
        # Strongly consistent: a token revoked a moment ago must not work, nor a
        # mandate revoked a moment ago.
        if named is None:
            try:
                return Bearer(AccessToken.get(*key, consistent_read=True), NOT_READ)
            except DoesNotExist:
                return None
        found = read([key, named], consistent=True)
        item = found.get(key)
        if not isinstance(item, AccessToken):
            return None
        if Autorisation.key(item.mandate_id, item.demarche) != named:
            return Bearer(item, NOT_READ)  # cannot happen (the hash covers the name): read what the item says
        return Bearer(item, found.get(named))

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
