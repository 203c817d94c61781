"""Rotation of the identity provider's signing keys, on the secret's file.

The secret ``oidc-signing-keys`` is a private JWK Set; every key in it is published
at ``/oidc/jwks`` and the first key of each algorithm signs (``shared/oidc/keys.py``).
A rotation that never breaks a FranceConnect login has three steps, each followed by
``faas-cli secret update`` and a restart of the OIDC functions (docs/deploy.md):

1. ``add ALG``: a new key at the end of the set, published but not signing, so that
   relying parties can fetch it before it is used;
2. ``promote KID``: the new key moves before the current signer of its algorithm and
   signs from now on; the old one stays published;
3. ``retire KID``: once every token the old key signed has expired, it goes.

Every change is checked with ``shared.oidc.keys.from_jwks`` (the functions' own
loader) before the file is replaced, so a set they would refuse is never written.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def default_path() -> Path:
    from shared.oidc import keys

    return Path(os.environ.get("SECRETS_DIR", "/var/openfaas/secrets")) / keys.SECRET_NAME


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _save(path: Path, jwks: dict) -> dict:
    from shared.oidc import keys

    keys.from_jwks(json.loads(json.dumps(jwks)))  # refuse what the functions would refuse
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jwks, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return jwks


def _kids(jwks: dict) -> list[str]:
    from shared.oidc import keys

    return [key.kid for key in keys.from_jwks(json.loads(json.dumps(jwks))).key_set.keys]


def describe(path: Path) -> list[dict]:
    from shared.oidc import keys

    jwks = _load(path)
    loaded = keys.from_jwks(json.loads(json.dumps(jwks)))
    signers = {alg: loaded.signing_key(alg).kid for alg in loaded.algorithms}
    return [
        {"kid": kid, "alg": raw.get("alg"), "iat": raw.get("iat"), "signs": signers.get(raw.get("alg")) == kid}
        for kid, raw in zip(_kids(jwks), jwks["keys"])
    ]


def add(path: Path, alg: str) -> str:
    from shared.oidc import keys

    jwks = _load(path)
    key = keys.new_key(alg)
    _save(path, {"keys": jwks["keys"] + [{**key.as_dict(private=True), "iat": int(time.time())}]})
    return key.kid


def promote(path: Path, kid: str) -> None:
    jwks = _load(path)
    kids = _kids(jwks)
    if kid not in kids:
        raise KeyError(f"no key {kid}")
    key = jwks["keys"][kids.index(kid)]
    rest = [k for k, other in zip(jwks["keys"], kids) if other != kid]
    at = next((i for i, other in enumerate(rest) if other.get("alg") == key.get("alg")), len(rest))
    _save(path, {"keys": rest[:at] + [key] + rest[at:]})


def retire(path: Path, kid: str) -> None:
    entries = {e["kid"]: e for e in describe(path)}
    if kid not in entries:
        raise KeyError(f"no key {kid}")
    if entries[kid]["signs"]:
        raise ValueError(f"{kid} still signs: promote its successor and wait for its tokens to expire first")
    jwks = _load(path)
    _save(path, {"keys": [k for k, other in zip(jwks["keys"], _kids(jwks)) if other != kid]})
