"""Scopes and claims: what FranceConnect may ask for and what it receives about the
usager (OpenID Connect Core §5.1 and §5.4, with FranceConnect's scopes).

FranceConnect asks for each claim of the "identité pivot" by a scope of the same
name, or for groups of them (``profile``, ``birth``). ``sub`` is pairwise: the same
usager gets a different, stable ``sub`` at each client, so two clients cannot link
their users through us (OpenID Connect Core §8.1).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core import UserInfo

from .. import crypto

if TYPE_CHECKING:  # a type only: claims are computed in functions that never read the store too
    from ..store import Usager

# The supported scopes and claims are constants of their own (discovery reads them
# without importing the store): here under their usual names.
from .profile import (  # noqa: E402 (after the TYPE_CHECKING block); re-exported: claims.ACR…
    ACR as ACR,
)
from .profile import (
    ACR_VALUES_SUPPORTED as ACR_VALUES_SUPPORTED,
)
from .profile import (
    CLAIMS_SUPPORTED as CLAIMS_SUPPORTED,
)
from .profile import (
    IDENTITY_CLAIMS,
    SCOPE_CLAIMS,
)
from .profile import (
    SCOPES_SUPPORTED as SCOPES_SUPPORTED,
)


def subject_for(usager_id: str, client_id: str) -> str:
    """The pairwise ``sub``: stable for a usager and a client, unlinkable across
    clients, and revealing nothing of our own usager id."""
    return crypto.keyed_hash(f"{client_id}\x00{usager_id}", "oidc-sub")


def claims_for_scope(scope: str | list[str] | None) -> set[str]:
    allowed: set[str] = set()
    for name in scope_to_list(scope) or []:
        allowed.update(SCOPE_CLAIMS.get(name, ()))
    return allowed


class Identity(SimpleNamespace):
    """The usager as the code and the access token carry them (``usager_claims``):
    what :func:`user_info` and the usager's e-mail read of a :class:`Usager`."""

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def identity_json(usager: Usager) -> str:
    """The usager's id and identity claims, for the code item (``grants.issue_code``)."""
    return json.dumps(
        {"id": usager.id, **{claim: getattr(usager, claim, None) for claim in IDENTITY_CLAIMS}},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def identity_from(stored: str) -> Identity:
    data = json.loads(stored)
    return Identity(**{claim: data.get(claim) for claim in ("id", *IDENTITY_CLAIMS)})


def user_info(usager: Usager | Identity, client_id: str, scope: str | list[str] | None) -> UserInfo:
    """The usager's claims that ``scope`` allows, and nothing else; ``sub`` always."""
    allowed = claims_for_scope(scope)
    info = UserInfo(sub=subject_for(usager.id, client_id))
    for claim in IDENTITY_CLAIMS:
        value = getattr(usager, claim, None)
        if claim in allowed and value not in (None, ""):
            info[claim] = value
    return info
