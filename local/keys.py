"""The identity provider's signing keys for a local run.

``ensure_local_keys`` (called by ``python -m local up``) writes the secret
``oidc-signing-keys`` — a private JWK Set, ES256 (default) and RS256 — when it is
missing; production gets the same JSON as an OpenFaaS secret. Rotation:

    python -m local.keys rotate [--alg ES256|RS256] [--folder .local/secrets]

puts a new key before the current signer of its algorithm (it signs from the next
process start on); the old keys stay published until removed by hand (see
``shared/oidc/keys.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from shared.oidc import keys

SECRET = keys.SECRET_NAME


def _write(path: Path, jwks: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(jwks, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def ensure_local_keys(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET
    if not path.exists():
        _write(path, keys.new_jwks())
    return path


def rotate(folder: Path, alg: str | None = None) -> dict:
    path = ensure_local_keys(folder)
    jwks = keys.rotate(json.loads(path.read_text()), alg)
    keys.from_jwks(jwks)  # refuse to write a set the functions would refuse
    _write(path, jwks)
    return jwks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.keys")
    parser.add_argument("command", choices=["rotate"])
    parser.add_argument("--alg", choices=sorted(keys.SUPPORTED))
    default = Path(os.environ.get("LOCAL_STATE_DIR", Path(__file__).resolve().parent.parent / ".local")) / "secrets"
    parser.add_argument("--folder", type=Path, default=default)
    args = parser.parse_args(argv)
    jwks = rotate(args.folder, args.alg)
    signer = keys.from_jwks(jwks).signing_key(args.alg or keys.from_jwks(jwks).default_alg)
    print(
        f"{args.folder / SECRET}: {len(jwks['keys'])} keys; {signer.alg} now signs with {signer.kid}. "
        "Restart the stack for the functions to use it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
