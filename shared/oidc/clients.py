"""Relying parties (RFC 6749 §2, OpenID Connect Registration §2): FranceConnect's
registrations with us, and the adapter Authlib asks its questions through.

A registration is read on almost every OIDC request and changes rarely, so each
process keeps it for :data:`CACHE_SECONDS`; a change or a deactivation takes effect
within that delay. Unknown ids are not cached (so random ids cannot fill memory).
"""

from __future__ import annotations

import threading
import time

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from pynamodb.exceptions import DoesNotExist

from .. import crypto
from ..store import OidcClient, now
from . import claims
from .profile import AUTH_METHODS, LEGACY_ALG  # noqa: E402,F401  (their names here too)

CACHE_SECONDS = 60
_CACHE_MAX = 256


def _secret_hash(client_id: str, client_secret: str) -> str:
    return crypto.keyed_hash(f"{client_id}\x00{client_secret}", "oidc-client-secret")


class Client(ClientMixin):
    """What Authlib needs to know about a registered client."""

    def __init__(self, item: OidcClient):
        self.item = item
        self.client_id = item.client_id
        self.name = item.name
        # Read by Authlib (OpenID Connect Registration §2 names).
        self.id_token_signed_response_alg = item.id_token_signed_response_alg
        self.client_metadata = {"userinfo_signed_response_alg": item.userinfo_signed_response_alg}

    @property
    def userinfo_signed_response_alg(self) -> str | None:
        return self.item.userinfo_signed_response_alg

    @property
    def is_legacy(self) -> bool:
        return self.item.id_token_signed_response_alg == LEGACY_ALG

    def clear_secret(self) -> str:
        """The secret itself, only for a legacy client (it is the HS256 key)."""
        if not self.item.sealed_secret:
            raise ValueError(f"client {self.client_id} has no recoverable secret")
        return crypto.unseal(self.item.sealed_secret, self.item.pk)

    # -- ClientMixin ------------------------------------------------------------------
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # OpenID Connect Core §3.1.2.1: redirect_uri is required

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = self.item.scopes or claims.SCOPES_SUPPORTED
        return list_to_scope([s for s in dict.fromkeys(scope_to_list(scope)) if s in allowed])

    def check_redirect_uri(self, redirect_uri):
        # Exact string comparison, no prefix or pattern (RFC 9700 §4.1.3).
        return redirect_uri in (self.item.redirect_uris or [])

    def check_client_secret(self, client_secret):
        if not isinstance(client_secret, str) or len(client_secret) > 256:
            return False
        return crypto.constant_time_equal(_secret_hash(self.client_id, client_secret), self.item.secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH_METHODS

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


_cache: dict[str, tuple[float, Client]] = {}
_lock = threading.Lock()


def find(client_id: str | None) -> Client | None:
    """The active client with this id, or None."""
    if not client_id or len(client_id) > 128:
        return None
    hit = _cache.get(client_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        item = OidcClient.get(*OidcClient.key(client_id))
    except DoesNotExist:
        return None
    if not item.is_active:
        return None
    client = Client(item)
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[client_id] = (time.monotonic() + CACHE_SECONDS, client)
    return client


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def register(
    client_id: str,
    name: str,
    redirect_uris: list[str],
    *,
    client_secret: str | None = None,
    legacy_hs256: bool = False,
    id_token_signed_response_alg: str | None = None,
    userinfo_signed_response_alg: str | None = None,
    scopes: list[str] | None = None,
) -> tuple[OidcClient, str]:
    """Create or replace a registration; returns it and the clear secret (shown once
    to whoever registers the client, never stored in clear)."""
    asymmetric = (None, "ES256", "RS256")
    if id_token_signed_response_alg not in asymmetric or userinfo_signed_response_alg not in asymmetric + (
        (LEGACY_ALG,) if legacy_hs256 else ()
    ):
        # HS256 needs the clear secret: only legacy registrations keep it (sealed).
        raise ValueError("unsupported signing algorithm for this registration")
    client_secret = client_secret or crypto.new_token()
    pk, sk = OidcClient.key(client_id)
    item = OidcClient(
        pk=pk,
        sk=sk,
        client_id=client_id,
        name=name,
        redirect_uris=list(redirect_uris),
        secret_hash=_secret_hash(client_id, client_secret),
        scopes=scopes,
        id_token_signed_response_alg=LEGACY_ALG if legacy_hs256 else id_token_signed_response_alg,
        userinfo_signed_response_alg=userinfo_signed_response_alg,
        is_active=True,
        created_at=now(),
    )
    if legacy_hs256:
        item.sealed_secret = crypto.seal(client_secret, pk)
    item.save()
    forget_cache()
    return item, client_secret
