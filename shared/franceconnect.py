"""Our side of FranceConnect: we are its client (service provider, "FS") when a
mandate is created, to learn the usager's verified identity ("identité pivot").

Authlib's OAuth2 client builds the authorization request and exchanges the code;
joserfc verifies the ID token (signature against FranceConnect's JWKS, ``iss``,
``aud``, ``exp``, ``iat``, ``nonce``, ``acr``: OIDC Core §3.1.3.7). The userinfo
answer is JSON or, as FranceConnect v2 sends it, a signed JWT; either way its
``sub`` must be the ID token's (OIDC Core §5.3.2).

The discovery document and the JWKS are cached per process (functions are
long-lived): one fetch at the first login, not one per request. An ID token signed
with an unknown ``kid`` triggers one JWKS refresh (key rotation), at most once a
minute.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from . import crypto
from . import error_codes as codes
from .config import secret, settings

log = logging.getLogger("aidants_connect.franceconnect")

# The identité pivot (docs/architecture.md §1).
SCOPES = "openid given_name family_name birthdate gender birthplace birthcountry email preferred_username"
ACR = "eidas1"
ACCEPTED_ACR = ("eidas1", "eidas2", "eidas3")
ALGORITHMS = ["RS256", "ES256"]
HTTP_TIMEOUT = 5
CLOCK_LEEWAY = 30  # seconds of tolerated clock skew with FranceConnect
JWKS_MIN_REFRESH = 60
CLIENT_SECRET = "franceconnect-client-secret"


class FranceConnectError(Exception):
    """The login did not give a trustworthy identity. ``code`` ends up in the
    front-end URL (``?error=…``); the reason goes to the log only."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


CANCELLED = codes.FRANCECONNECT_CANCELLED
FAILED = codes.FRANCECONNECT_ERROR
UNAVAILABLE = codes.FRANCECONNECT_UNAVAILABLE


@dataclass(frozen=True)
class Identity:
    sub: str
    claims: dict  # userinfo, the identité pivot
    id_token: str = ""  # FranceConnect's, kept only to log the usager out (logout_url)


# -- discovery and keys, cached per process ---------------------------------------


class _Provider:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metadata: dict | None = None
        self._metadata_from: str | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = 0.0

    def _get_json(self, url: str) -> dict:
        try:
            response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise FranceConnectError(UNAVAILABLE, f"cannot read {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise FranceConnectError(UNAVAILABLE, f"{url} is not a JSON object")
        return data

    def metadata(self) -> dict:
        base = settings().franceconnect_url
        with self._lock:
            if self._metadata is not None and self._metadata_from == base:
                return self._metadata
        data = self._get_json(base + "/.well-known/openid-configuration")
        # OIDC Discovery §4.3: the issuer must be exactly the URL we asked.
        if data.get("issuer") != base:
            raise FranceConnectError(FAILED, f"discovery issuer {data.get('issuer')!r} is not {base!r}")
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
            if not isinstance(data.get(name), str):
                raise FranceConnectError(FAILED, f"discovery lacks {name}")
        with self._lock:
            self._metadata, self._metadata_from = data, base
            self._keys = None
        return data

    def keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            keys, fetched_at = self._keys, self._keys_fetched_at
        if keys is not None and not (refresh and time.monotonic() - fetched_at > JWKS_MIN_REFRESH):
            return keys
        data = self._get_json(self.metadata()["jwks_uri"])
        try:
            # FranceConnect's JSON, checked by joserfc (its errors are the refusal below)
            keys = KeySet.import_key_set(cast(KeySetSerialization, data))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise FranceConnectError(FAILED, f"unusable JWKS: {exc}") from exc
        with self._lock:
            self._keys, self._keys_fetched_at = keys, time.monotonic()
        return keys

    def reset(self) -> None:
        with self._lock:
            self._metadata = self._metadata_from = self._keys = None


provider = _Provider()


def redirect_uri() -> str:
    return settings().issuer + "/fc/callback"


def _client(**kwargs) -> OAuth2Session:
    # One OAuth2Session per login: requests sessions are not meant to be shared
    # between threads, and waitress serves four at once.
    cfg = settings()
    return OAuth2Session(
        client_id=cfg.franceconnect_client_id,
        client_secret=secret(CLIENT_SECRET),
        scope=SCOPES,
        redirect_uri=redirect_uri(),
        token_endpoint_auth_method="client_secret_post",
        # FranceConnect's access tokens live 60 s; Authlib's default
        # 60 s leeway would call a fresh one expired before userinfo.
        leeway=0,
        **kwargs,
    )


def authorization_url(state: str, nonce: str) -> str:
    metadata = provider.metadata()
    with _client() as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, nonce=nonce, acr_values=ACR
        )
    return url


# -- the callback -----------------------------------------------------------------------


def _decode(token: str, what: str) -> jwt.Token:
    try:
        try:
            return jwt.decode(token, provider.keys(), algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            return jwt.decode(token, provider.keys(refresh=True), algorithms=ALGORITHMS)
    except JoseError as exc:
        raise FranceConnectError(FAILED, f"{what} rejected: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise FranceConnectError(FAILED, f"{what} malformed: {exc}") from exc


def verify_id_token(id_token: object, nonce_hash: str) -> dict:
    if not isinstance(id_token, str) or not id_token:
        raise FranceConnectError(FAILED, "no id_token in the token response")
    token = _decode(id_token, "id_token")
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": provider.metadata()["issuer"]},
        aud={"essential": True, "value": settings().franceconnect_client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True},
        acr={"essential": True, "values": list(ACCEPTED_ACR)},
    )
    claims = token.claims
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise FranceConnectError(FAILED, f"id_token claims rejected: {exc}") from exc
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != settings().franceconnect_client_id:
        raise FranceConnectError(FAILED, "id_token azp is not our client")
    if not isinstance(claims["nonce"], str) or not crypto.constant_time_equal(
        crypto.keyed_hash(claims["nonce"], "fc_nonce"), nonce_hash
    ):
        # The ID token was not issued for the login we started: a replayed or
        # injected token (OIDC Core §15.5.2).
        raise FranceConnectError(FAILED, "nonce mismatch")
    return claims


def _userinfo(client: OAuth2Session, endpoint: str) -> dict:
    try:
        response = client.get(endpoint, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise FranceConnectError(UNAVAILABLE, f"userinfo unreachable: {exc}") from exc
    except AuthlibBaseError as exc:
        raise FranceConnectError(FAILED, f"userinfo refused: {exc}") from exc
    if response.status_code != 200:
        raise FranceConnectError(FAILED, f"userinfo answered {response.status_code}")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/jwt":
        claims = _decode(response.text.strip(), "userinfo")
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": provider.metadata()["issuer"]},
            aud={"essential": True, "value": settings().franceconnect_client_id},
        )
        try:
            registry.validate(claims.claims)
        except JoseError as exc:
            raise FranceConnectError(FAILED, f"userinfo claims rejected: {exc}") from exc
        return dict(claims.claims)
    try:
        data = response.json()
    except ValueError as exc:
        raise FranceConnectError(FAILED, "userinfo is not JSON") from exc
    if not isinstance(data, dict):
        raise FranceConnectError(FAILED, "userinfo is not an object")
    return data


def complete_login(code: str, nonce_hash: str) -> Identity:
    """Exchange the code, verify the ID token, read the identité pivot."""
    metadata = provider.metadata()
    with _client() as client:
        try:
            token = client.fetch_token(
                metadata["token_endpoint"], grant_type="authorization_code", code=code, timeout=HTTP_TIMEOUT
            )
        except requests.RequestException as exc:
            raise FranceConnectError(UNAVAILABLE, f"token endpoint unreachable: {exc}") from exc
        except (AuthlibBaseError, ValueError, KeyError) as exc:
            raise FranceConnectError(FAILED, f"code exchange refused: {exc}") from exc
        id_claims = verify_id_token(token.get("id_token"), nonce_hash)
        userinfo = _userinfo(client, metadata["userinfo_endpoint"])
    if userinfo.get("sub") != id_claims["sub"]:
        raise FranceConnectError(FAILED, "userinfo sub differs from the id_token's")
    return Identity(sub=str(id_claims["sub"]), claims=userinfo, id_token=token["id_token"])


def logout_url(id_token: str, post_logout_redirect_uri: str, state: str) -> str | None:
    """Where to send the browser to end the usager's FranceConnect session (RP-initiated
    logout), or None when FranceConnect publishes no ``end_session_endpoint``.

    The usager identifies on the aidant's computer: left open, that session would
    identify the next usager at the desk as this one (FranceConnect logs a known
    browser in again without asking), and would let the browser into any other
    FranceConnect service as this usager. ``post_logout_redirect_uri`` must be
    registered with FranceConnect (docs/deploy.md)."""
    try:
        endpoint = provider.metadata().get("end_session_endpoint")
    except FranceConnectError:
        return None
    if not endpoint:
        return None
    query = urlencode({"id_token_hint": id_token, "state": state, "post_logout_redirect_uri": post_logout_redirect_uri})
    return endpoint + ("&" if "?" in endpoint else "?") + query
