"""Discovery (OpenID Connect Discovery §3, RFC 8414) and the public keys (RFC 7517).

Built once per process from the issuer and the signing keys, and checked with
Authlib's ``OpenIDProviderMetadata.validate()`` at that moment: a configuration
that relying parties would refuse fails loudly instead of being served.

``oidc_metadata`` serves these two documents and nothing else: this module imports
the constants (``profile``) and the keys, never the store, Jinja2 or the mandates
(its cold start is reported in docs/performance.md).
"""

from __future__ import annotations

import functools

from authlib.oidc.discovery import OpenIDProviderMetadata

from ..config import settings
from ..http import Request, Response, json_response
from . import keys, profile


@functools.lru_cache(maxsize=1)
def discovery() -> dict:
    issuer = settings().issuer
    signing = keys.current().algorithms
    metadata = OpenIDProviderMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oidc/authorize",
            "token_endpoint": f"{issuer}/oidc/token",
            "userinfo_endpoint": f"{issuer}/oidc/userinfo",
            "jwks_uri": f"{issuer}/oidc/jwks",
            "scopes_supported": profile.SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": list(profile.AUTH_METHODS),
            "subject_types_supported": ["pairwise"],
            # HS256 only for clients registered in the legacy mode (signed with their secret).
            "id_token_signing_alg_values_supported": signing + [profile.LEGACY_ALG],
            "userinfo_signing_alg_values_supported": signing + [profile.LEGACY_ALG],
            "acr_values_supported": profile.ACR_VALUES_SUPPORTED,
            "claims_supported": profile.CLAIMS_SUPPORTED,
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
        }
    )
    metadata.validate()
    return dict(metadata)


def jwks() -> dict:
    return keys.current().public_jwks()


def discovery_response(request: Request) -> Response:
    """GET /.well-known/openid-configuration."""
    return json_response(discovery())


def jwks_response(request: Request) -> Response:
    """GET /oidc/jwks."""
    return json_response(jwks())
