"""Random tokens, their keyed hashes, and sealing of stored TOTP seeds.

Tokens, codes, links and client secrets are random with 256 bits of entropy, so
they are stored as HMAC-SHA-256 under a server-side key (docs/architecture.md §4): nobody can
guess them, and a leaked table gives nothing usable without the key. A password hash
would cost ~0.15 s of CPU per request and protect nothing more.

TOTP seeds must be read back to compute codes, so they are encrypted
(AES-256-GCM) rather than hashed; the item id is bound as associated data so a sealed
seed copied onto another device item does not open.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets as _secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import secret


def new_token(nbytes: int = 32) -> str:
    return _secrets.token_urlsafe(nbytes)


def new_id(nbytes: int = 12) -> str:
    """Identifiers shown in URLs: random, unguessable, URL-safe."""
    return _secrets.token_urlsafe(nbytes).replace("-", "a").replace("_", "b")


def _key(name: str) -> bytes:
    raw = secret(name)
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = raw.encode()
    if len(key) < 32:
        raise ValueError(f"secret {name} must hold at least 32 bytes")
    return key


@functools.lru_cache(maxsize=1)
def _hmac_key() -> bytes:
    return _key("token-hmac-key")


def keyed_hash(token: str, purpose: str) -> str:
    """HMAC-SHA-256 of a random token; ``purpose`` separates domains so a session
    token can never be presented as a login link or an access token."""
    mac = hmac.new(_hmac_key(), f"{purpose}:{token}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@functools.lru_cache(maxsize=1)
def _aead() -> AESGCM:
    return AESGCM(_key("totp-seal-key")[:32])


def seal(plaintext: str, bound_to: str) -> str:
    nonce = os.urandom(12)
    sealed = _aead().encrypt(nonce, plaintext.encode(), bound_to.encode())
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(token: str, bound_to: str) -> str:
    if not token.startswith("v1."):
        raise ValueError("unknown sealing format")
    raw = base64.urlsafe_b64decode(token[3:])
    return _aead().decrypt(raw[:12], raw[12:], bound_to.encode()).decode()


def reset_caches() -> None:
    _hmac_key.cache_clear()
    _aead.cache_clear()
