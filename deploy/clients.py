"""Registering FranceConnect (or another relying party) with our identity provider.

The registration is an item of the table (``shared.oidc.clients.register``): the
client secret is stored as a keyed hash under ``token-hmac-key``, so this command
needs the same key as the deployed functions. It reads it the way they do
(``shared.config.secret``): point ``SECRETS_DIR`` at the folder the ``secrets``
commands filled. The clear secret is printed once, to be given to FranceConnect in
its partner space, and is stored nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .store_target import point_store_at


@dataclass(frozen=True)
class Registered:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    id_token_signed_response_alg: str | None
    userinfo_signed_response_alg: str | None


def register(
    client_id: str,
    name: str,
    redirect_uris: list[str],
    *,
    id_token_alg: str | None = None,
    userinfo_alg: str | None = None,
    endpoint: str | None = None,
) -> Registered:
    point_store_at(endpoint)
    from shared.oidc import clients

    for uri in redirect_uris:
        if not uri.startswith("https://"):
            raise ValueError(f"redirect URI {uri!r} is not https")
    item, secret = clients.register(
        client_id,
        name,
        redirect_uris,
        id_token_signed_response_alg=id_token_alg,
        userinfo_signed_response_alg=userinfo_alg,
    )
    return Registered(
        item.client_id,
        secret,
        list(item.redirect_uris),
        item.id_token_signed_response_alg,
        item.userinfo_signed_response_alg,
    )
