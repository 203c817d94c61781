"""The OpenFaaS secrets ``stack.yml`` declares, and how to create each one.

``python -m deploy secrets`` prints, for every secret any function lists, what it is,
which functions read it, and the commands that make it: the value is written once to
a private folder laid out as ``/var/openfaas/secrets`` (``SECRETS_DIR``), then given
to ``faas-cli secret create --from-file``: never on a command line, never in shell
history, never regenerated over an existing one. Values we make ourselves come from
``python -m deploy secrets --generate NAME``; values a third party gives us (SMTP,
FranceConnect) are typed in at a silent prompt.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from local import stack


def _random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _signing_keys() -> str:
    from shared.oidc import keys

    return json.dumps(keys.new_jwks())


@dataclass(frozen=True)
class Secret:
    name: str
    what: str
    generate: Callable[[], str] | None = None  # None: a third party gives the value
    source: str = ""  # where a third-party value comes from
    rotation: str = ""


KNOWN = {
    s.name: s
    for s in [
        Secret(
            "token-hmac-key",
            "HMAC-SHA-256 key under which every token, code, session, login link and client "
            "secret is stored (32 random bytes, base64).",
            _random_key,
            rotation="Rotating it invalidates every open session, login link, authorization code, "
            "access token and stored client secret: plan it, then re-register the clients.",
        ),
        Secret(
            "totp-seal-key",
            "AES-256-GCM key sealing the stored TOTP seeds (32 random bytes, base64).",
            _random_key,
            rotation="Never replace it without re-sealing every TOTP device: a lost key loses every "
            "aidant's OTP card and app. Keep an offline copy.",
        ),
        Secret(
            "oidc-signing-keys",
            "Private JWK Set signing our ID tokens (identity provider for FranceConnect): one ES256 "
            "and one RS256 key (OpenID Connect requires RS256); the first key of an algorithm signs.",
            _signing_keys,
            rotation="Put a new key first, keep the old one published at /oidc/jwks until every token "
            "it signed has expired, then remove it (docs/deploy.md, Keys).",
        ),
        Secret(
            "smtp-password",
            "Password of the SMTP account (SMTP_USER in stack.yml) that sends mail to aidants and usagers.",
            source="the mail provider's console (SMTP credentials of the sending account)",
        ),
        Secret(
            "franceconnect-client-secret",
            "Client secret FranceConnect gave us as a service provider (FS: mandate creation).",
            source="FranceConnect's partner space, with FRANCECONNECT_CLIENT_ID",
        ),
    ]
}


def declared(stack_path=None) -> dict[str, list[str]]:
    """secret name -> the functions that list it, in stack.yml order."""
    found: dict[str, list[str]] = {}
    for fn in stack.functions(stack_path).values():
        for name in fn.spec.get("secrets") or []:
            found.setdefault(str(name), []).append(fn.name)
    return found


def undocumented(stack_path=None) -> list[str]:
    return sorted(set(declared(stack_path)) - set(KNOWN))


def generate(name: str, sandbox: bool = False) -> str:
    if sandbox and name in SANDBOX_GENERATED:
        return SANDBOX_GENERATED[name]()
    secret = KNOWN.get(name)
    if secret is None:
        raise KeyError(f"{name} is not documented in deploy/secrets.py: say what it is first")
    if secret.generate is None:
        raise KeyError(f"{name} is not ours to generate: it comes from {secret.source}")
    return secret.generate()


def is_sandbox(stack_path=None) -> bool:
    """The stack is the training sandbox's (stack.sandbox.yml: PROFILE=sandbox)."""
    return any(fn.environment.get("PROFILE") == "sandbox" for fn in stack.functions(stack_path).values())


# The sandbox plays FranceConnect itself (its stand-in and its mandate creation share
# this secret): its value is ours to make, like the keys.
SANDBOX_GENERATED = {"franceconnect-client-secret": _random_key}


def commands(stack_path=None, gateway: str | None = None) -> str:
    """The shell commands; faas-cli reads the gateway from OPENFAAS_URL unless given.
    The training sandbox's (``--stack stack.sandbox.yml``) keep their values in a
    folder of their own: none of its secrets is production's."""
    flag = f" --gateway {gateway}" if gateway else ""
    folder = '"${SECRETS_DIR}"'
    sandbox = is_sandbox(stack_path)
    default_dir = "$HOME/aidants-connect-sandbox-secrets" if sandbox else "$HOME/aidants-connect-secrets"
    lines = [
        (
            "# OpenFaaS secrets of the training sandbox: its own OpenFaaS, its own values, never\n"
            "# production's (python -m deploy secrets --stack stack.sandbox.yml).\n"
            if sandbox
            else ""
        )
        + "# OpenFaaS secrets for every function in stack.yml (python -m deploy secrets).",
        "# Values are written once to SECRETS_DIR (a private folder: keep it in the team's vault,",
        "# never in git; totp-seal-key in particular must never be lost), then given to faas-cli",
        "# from there: never on a command line, never in the shell history. The same folder",
        "# serves `SECRETS_DIR=... python -m deploy oidc-client`, which needs token-hmac-key.",
        "# Log in first: faas-cli login" + (flag or "   (the gateway comes from OPENFAAS_URL)"),
        "# Changing a secret later: faas-cli secret update NAME --from-file ..., then restart the",
        "# functions that read it (they read secrets once per process): docs/deploy.md.",
        "",
        f'SECRETS_DIR="${{SECRETS_DIR:-{default_dir}}}"',
        f"umask 077 && mkdir -p {folder}",
        "",
    ]
    for name, users in sorted(declared(stack_path).items()):
        secret = KNOWN.get(name)
        path = f'"${{SECRETS_DIR}}/{name}"'
        lines.append(f"# {name} — read by {', '.join(users)}")
        if secret is None:
            lines.append("#   NOT DOCUMENTED in deploy/secrets.py: find out what it holds before creating it.")
            lines.append(f"test -e {path} || {{ read -rs VALUE && printf '%s' \"$VALUE\" > {path}; unset VALUE; }}")
        else:
            lines.append(f"#   {secret.what}")
            if secret.rotation:
                lines.append(f"#   Rotation: {secret.rotation}")
            if sandbox and name in SANDBOX_GENERATED:
                lines.append("#   The sandbox's own: its FranceConnect stand-in and its mandate creation share it.")
                lines.append(f"test -e {path} || python -m deploy secrets --generate {name} --sandbox > {path}")
            elif secret.generate is not None:
                lines.append(f"test -e {path} || python -m deploy secrets --generate {name} > {path}")
            else:
                lines.append(f"#   Value from {secret.source}, typed at a silent prompt:")
                lines.append(f"test -e {path} || {{ read -rs VALUE && printf '%s' \"$VALUE\" > {path}; unset VALUE; }}")
        lines.append(f"faas-cli secret create {name} --from-file {path}{flag}")
        lines.append("")
    return "\n".join(lines)
