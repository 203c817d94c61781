"""What this identity provider supports, as discovery publishes it and the other
modules check it: scopes and the claims they release, the ACR, the client
authentication methods, the legacy signing algorithm. Constants only: discovery
(``oidc_metadata``, two JSON documents) imports this, never the store."""

from __future__ import annotations

IDENTITY_CLAIMS = (
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "preferred_username",
)
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    **{claim: (claim,) for claim in IDENTITY_CLAIMS},
    "profile": ("given_name", "family_name", "birthdate", "gender", "preferred_username"),
    "birth": ("birthplace", "birthcountry"),
}
SCOPES_SUPPORTED = list(SCOPE_CLAIMS)
# Every claim we may put in an ID token or a userinfo answer (for discovery).
CLAIMS_SUPPORTED = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "at_hash", *IDENTITY_CLAIMS]
# eIDAS "low": the level FranceConnect expects from an identity provider like ours.
ACR = "eidas1"
ACR_VALUES_SUPPORTED = [ACR]

# RFC 6749 §2.3: one of them per token request.
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# ID tokens signed with the client's own secret, for clients registered in the legacy mode.
LEGACY_ALG = "HS256"
