"""The identity provider's items: client registrations, and the three short-lived
steps of an authorization (transaction, code, access token).

Codes and access tokens are keyed by the keyed hash of their value, never the value
itself. The three ephemeral kinds carry ``ttl`` for DynamoDB's clean-up *and*
``expires_at``, which the code checks (in the write condition where one exists):
DynamoDB may keep an expired item for days.

Plain pynamodb models: the Authlib-facing adapters live in ``shared.oidc`` so that a
function that never speaks OIDC does not need Authlib installed.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute

from .base import Item, unicode_list


class OidcClient(Item, discriminator="oidc_client"):
    """pk ``OIDCCLIENT#<client_id>`` sk ``OIDCCLIENT``: a relying party (FranceConnect).

    ``secret_hash`` is the keyed hash of the client secret: enough to authenticate
    the client. ``sealed_secret`` is set only for clients registered in the legacy
    mode, whose ID tokens are signed HS256 *with the client secret*: signing needs the
    clear secret, which a hash cannot give back, so it is kept encrypted
    (``shared.crypto.seal``, bound to this item's key) instead.

    Kept in the training sandbox too: its demo site is a client registered once."""

    sandbox_permanent = True
    client_id = UnicodeAttribute()
    name = UnicodeAttribute()
    redirect_uris = unicode_list()
    secret_hash = UnicodeAttribute()
    sealed_secret = UnicodeAttribute(null=True)
    scopes = unicode_list(null=True)  # None: every supported scope
    id_token_signed_response_alg = UnicodeAttribute(null=True)  # None: the server's default
    userinfo_signed_response_alg = UnicodeAttribute(null=True)  # None: plain JSON
    is_active = BooleanAttribute(default=True)

    @staticmethod
    def key(client_id: str) -> tuple[str, str]:
        return f"OIDCCLIENT#{client_id}", "OIDCCLIENT"


class AuthorizationTransaction(Item, discriminator="oidc_transaction"):
    """pk ``OIDCTXN#<id>`` sk ``OIDCTXN``: a validated authorization request waiting
    for an aidant to pick a usager and a démarche. Completed once, by a conditional
    write on ``completed_at`` (in the same transaction that stores the code).
    ``browser_hash`` is the keyed hash of the cookie set in the browser FranceConnect
    sent: only that browser may complete it."""

    id = UnicodeAttribute()
    browser_hash = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute()
    client_name = UnicodeAttribute()
    redirect_uri = UnicodeAttribute()
    scope = UnicodeAttribute()
    state = UnicodeAttribute()
    nonce = UnicodeAttribute()
    acr = UnicodeAttribute()
    code_challenge = UnicodeAttribute(null=True)
    code_challenge_method = UnicodeAttribute(null=True)
    prompt = UnicodeAttribute(null=True)
    login_hint = UnicodeAttribute(null=True)
    max_age = NumberAttribute(null=True)  # seconds
    expires_at = NumberAttribute()  # epoch seconds
    completed_at = NumberAttribute(null=True)
    aidant_id = UnicodeAttribute(null=True)
    usager_id = UnicodeAttribute(null=True)
    demarche = UnicodeAttribute(null=True)
    mandate_id = UnicodeAttribute(null=True)

    @staticmethod
    def key(txn_id: str) -> tuple[str, str]:
        return f"OIDCTXN#{txn_id}", "OIDCTXN"


class AuthorizationCode(Item, discriminator="oidc_code"):
    """pk ``OIDCCODE#<keyed hash of the code>`` sk ``OIDCCODE``.

    Redeemed once: ``used_at`` is set by a conditional update that also checks the
    client and ``expires_at``. The item outlives the code (``ttl`` covers the access
    token's lifetime too) so that a replayed code can still find, through
    ``access_token_hash``, the token issued by the first redemption and revoke it
    (RFC 6749 §4.1.2); ``replayed_at`` marks that a replay was seen.

    ``usager_claims`` (the usager's identity as JSON, read with the aidant's choice)
    and the structure's name and address (for the usager's e-mail) are what the token
    endpoint needs besides the code: it reads nothing else, and re-checks the mandate
    in its own transaction. Codes written before these existed have none: the token
    endpoint then reads the usager and the structure."""

    client_id = UnicodeAttribute()
    redirect_uri = UnicodeAttribute()
    scope = UnicodeAttribute()
    nonce = UnicodeAttribute()
    acr = UnicodeAttribute()
    auth_time = NumberAttribute()
    code_challenge = UnicodeAttribute(null=True)
    code_challenge_method = UnicodeAttribute(null=True)
    txn_id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    usager_id = UnicodeAttribute()
    demarche = UnicodeAttribute()
    mandate_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)
    replayed_at = NumberAttribute(null=True)
    access_token_hash = UnicodeAttribute(null=True)
    usager_claims = UnicodeAttribute(null=True)  # JSON
    structure_name = UnicodeAttribute(null=True)
    structure_address = UnicodeAttribute(null=True)

    @staticmethod
    def key(code_hash: str) -> tuple[str, str]:
        return f"OIDCCODE#{code_hash}", "OIDCCODE"


class AccessToken(Item, discriminator="oidc_access_token"):
    """pk ``OIDCTOKEN#<keyed hash of the token>`` sk ``OIDCTOKEN``: an opaque bearer
    token for the userinfo endpoint. Revoked by setting ``revoked_at``.

    The token's value names its autorisation (``<mandate>.<démarche>.<random>``,
    ``shared.oidc.tokens``), so userinfo reads the token and the autorisation in one
    BatchGet; ``usager_claims`` (copied from the code) is the identity it serves."""

    client_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    usager_id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    mandate_id = UnicodeAttribute()
    demarche = UnicodeAttribute()
    code_hash = UnicodeAttribute()
    expires_at = NumberAttribute()
    revoked_at = NumberAttribute(null=True)
    usager_claims = UnicodeAttribute(null=True)  # JSON

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"OIDCTOKEN#{token_hash}", "OIDCTOKEN"
