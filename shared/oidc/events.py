"""Journal actions of the identity provider, and the two ways refusals are kept.

The journal records what an authenticated party did: the usager and démarche an
aidant chose (who acted for whom, under which mandate), the code and token issued
to an authenticated client (with the names of the identity claims its ID token
carried: userinfo serves the same ones, and is not journaled again), a replayed code, and the refusals met by an aidant's session, an authenticated
client or a valid token (:func:`refused`).

A request with neither an aidant session nor client authentication writes nothing
permanent: anybody can send those, as many as they like, and the journal is never
deleted. Their refusals are one JSON log line each (:func:`refused_anonymous`).
"""

from __future__ import annotations

from .. import anonymous, journal

USAGER_CHOSEN = "oidc_usager_chosen"
CODE_ISSUED = "oidc_code_issued"
TOKEN_ISSUED = "oidc_token_issued"
USERINFO_SERVED = "oidc_userinfo_served"  # no longer written (shared/oidc/userinfo.py says why)
CODE_REPLAYED = "oidc_code_replayed"  # and the first token revoked
REFUSED = "oidc_refused"

_MAX_CLIENT_ID = 128
_MAX_DESCRIPTION = 300


def refused(
    endpoint: str, reason: str, *, description: str | None = None, client_id: str | None = None, **fields
) -> None:
    """A refusal met by an authenticated party: journaled."""
    details = {"endpoint": endpoint}
    if description:
        details["description"] = description[:_MAX_DESCRIPTION]
    # Values below may come from the attacker: bounded before they reach the journal.
    journal.record(
        REFUSED,
        client_id=(client_id or None) and client_id[:_MAX_CLIENT_ID],
        reason=reason[:100],
        details=details,
        **fields,
    )


def refused_anonymous(
    endpoint: str, error: str, *, description: str | None = None, client_id: str | None = None
) -> None:
    """A refusal of a request nobody authenticated: one JSON log line
    (``shared.anonymous``), nothing stored. It names the endpoint, the OAuth error
    and our reason, and the client id the request claimed (bounded); never a token,
    code, secret or state, which the caller does not pass here."""
    anonymous.log_event(
        REFUSED,
        endpoint=endpoint,
        error=str(error)[:100],
        client_id=(client_id or None) and str(client_id)[:_MAX_CLIENT_ID],
        reason=(description or "")[:_MAX_DESCRIPTION],
    )
