"""The identity provider's signing keys (RFC 7517), loaded once per process.

The keys come from the OpenFaaS secret ``oidc-signing-keys``: a JWK Set *with the
private parts*, for instance ``{"keys": [<ES256 key>, <RS256 key>]}``. Every key is
published at ``/oidc/jwks`` (public parts only) and the **first key of each
algorithm signs**; the first key of the set gives the default algorithm.

Rotation, without a deploy of the code:

1. put a new key before the current signer of its algorithm
   (``python -m local.keys rotate`` does it for a local run) and update the secret;
   from the next process start new tokens are signed with it, and
   relying parties that cached the old JWKS refetch it on the unknown ``kid``;
2. keep the old key in the set (published, no longer signing) until every token it
   signed has expired (ID tokens live :data:`shared.oidc.tokens.ID_TOKEN_TTL`);
3. remove it.

Replicas restart one by one, so for a moment some sign with the new key while the
discovery function may still publish the old set. Without that blip: first add the
new key *after* the current signer (published, not signing), roll it out, then
move it before the signer and roll out again.

OpenID Connect Discovery makes RS256 mandatory for ID tokens, so a set without an
RS256 key is refused; ES256 is the usual default (cheaper to sign).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import cast

from joserfc.jwk import ECKey, Key, KeySet, KeySetSerialization, RSAKey

from ..config import secret

SECRET_NAME = "oidc-signing-keys"
SUPPORTED = {"ES256": ("EC", "P-256"), "RS256": ("RSA", None)}
REQUIRED_ALG = "RS256"


class InvalidKeySet(ValueError):
    pass


def _alg(key: Key) -> str:
    # from_jwks gives every key of the set a supported alg
    if key.alg is None:
        raise InvalidKeySet(f"key {key.kid} has no alg")
    return key.alg


@dataclass(frozen=True)
class SigningKeys:
    key_set: KeySet  # newest first

    @property
    def default_alg(self) -> str:
        return _alg(self.key_set.keys[0])

    @property
    def algorithms(self) -> list[str]:
        seen: list[str] = []
        for key in self.key_set.keys:
            if _alg(key) not in seen:
                seen.append(_alg(key))
        return seen

    def signing_key(self, alg: str) -> Key:
        """The newest key of ``alg``: the one that signs now."""
        for key in self.key_set.keys:
            if key.alg == alg:
                return key
        raise InvalidKeySet(f"no signing key for {alg}")

    def public_jwks(self) -> dict:
        keys = self.key_set.as_dict(private=False)["keys"]
        return {"keys": [{k: v for k, v in key.items() if k != "iat"} for key in keys]}


def from_jwks(data: dict) -> SigningKeys:
    """Check a private JWK Set and give every key a ``kid`` (its RFC 7638 thumbprint
    unless one is set)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise InvalidKeySet("the signing key set must be a non-empty JWK Set")
    key_set = KeySet.import_key_set(cast(KeySetSerialization, data))  # its "keys" checked just above
    kids = set()
    for key in key_set.keys:
        if key.alg not in SUPPORTED:
            raise InvalidKeySet(f"unsupported signing algorithm {key.alg!r} (alg is required)")
        kty, crv = SUPPORTED[key.alg]
        if key.key_type != kty or (crv and key.get("crv") != crv):
            raise InvalidKeySet(f"key {key.kid} does not fit {key.alg}")
        if not key.is_private:
            raise InvalidKeySet(f"key {key.kid} has no private part")
        if key.get("use", "sig") != "sig":
            raise InvalidKeySet(f"key {key.kid} is not a signing key")
        key.ensure_kid()
        if key.kid in kids:
            raise InvalidKeySet(f"duplicate kid {key.kid}")
        kids.add(key.kid)
    if REQUIRED_ALG not in {k.alg for k in key_set.keys}:
        raise InvalidKeySet("OpenID Connect requires an RS256 key")
    return SigningKeys(key_set)


@functools.lru_cache(maxsize=1)
def current() -> SigningKeys:
    """The keys of this process: parsed once (functions are long-lived processes)."""
    return from_jwks(json.loads(secret(SECRET_NAME)))


def reset_caches() -> None:
    current.cache_clear()


# -- making keys (local runs, rotation, tests) -------------------------------------


def new_key(alg: str) -> Key:
    key: ECKey | RSAKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", private=True)
    elif alg == "RS256":
        key = RSAKey.generate_key(2048, private=True)
    else:
        raise InvalidKeySet(f"unsupported signing algorithm {alg!r}")
    key = type(key).import_key({**key.as_dict(private=True), "alg": alg, "use": "sig"})
    key.ensure_kid()
    return key


def new_jwks(algs: tuple[str, ...] = ("ES256", "RS256")) -> dict:
    """A fresh private JWK Set; the first algorithm is the default one."""
    return {"keys": [_with_date(new_key(alg)) for alg in algs]}


def rotate(jwks: dict, alg: str | None = None) -> dict:
    """Add a new key of ``alg`` (default: the default algorithm) just before the
    current signer of that algorithm, so it signs from now on and the default
    algorithm stays what it was; the old keys stay published until removed."""
    alg = alg or from_jwks(jwks).default_alg
    current = list(jwks["keys"])
    at = next((i for i, key in enumerate(current) if key.get("alg") == alg), len(current))
    return {"keys": current[:at] + [_with_date(new_key(alg))] + current[at:]}


def _with_date(key: Key) -> dict:
    # ``iat`` is informative only (when to retire the key); order decides who signs.
    return {**key.as_dict(private=True), "iat": int(time.time())}
