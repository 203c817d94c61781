"""Discovery (OpenID Connect Discovery §3, RFC 8414) and the public keys (RFC 7517).

Built once per process from the issuer and the signing keys, and checked with
Authlib's ``OpenIDProviderMetadata.validate()`` at that moment: a configuration
that relying parties would refuse fails loudly instead of being served.
"""
from __future__ import annotations

import functools

from authlib.oidc.discovery import OpenIDProviderMetadata

from ..config import settings
from . import claims, clients, keys


@functools.lru_cache(maxsize=1)
def discovery() -> dict:
    issuer = settings().issuer
    signing = keys.current().algorithms
    metadata = OpenIDProviderMetadata({
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oidc/authorize",
        "token_endpoint": f"{issuer}/oidc/token",
        "userinfo_endpoint": f"{issuer}/oidc/userinfo",
        "jwks_uri": f"{issuer}/oidc/jwks",
        "scopes_supported": claims.SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": list(clients.AUTH_METHODS),
        "subject_types_supported": ["pairwise"],
        # HS256 only for clients registered in the legacy mode (signed with their secret).
        "id_token_signing_alg_values_supported": signing + [clients.LEGACY_ALG],
        "userinfo_signing_alg_values_supported": signing + [clients.LEGACY_ALG],
        "acr_values_supported": claims.ACR_VALUES_SUPPORTED,
        "claims_supported": claims.CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        # RFC 9207: authorization responses (code or error) carry ``iss``.
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr-FR"],
        "claims_locales_supported": ["fr-FR"],
    })
    metadata.validate()
    return dict(metadata)


def jwks() -> dict:
    return keys.current().public_jwks()
