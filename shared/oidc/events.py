"""Journal actions of the identity provider, and the one way refusals are written.

Each step of a FranceConnect authorization leaves an entry: the request opened, the
usager and démarche chosen (who acted for whom, under which mandate), the code and
token issued, the identity served; every refusal is written with its reason."""
from __future__ import annotations

from .. import journal

TRANSACTION_OPENED = "oidc_transaction_opened"
USAGER_CHOSEN = "oidc_usager_chosen"
CODE_ISSUED = "oidc_code_issued"
TOKEN_ISSUED = "oidc_token_issued"
USERINFO_SERVED = "oidc_userinfo_served"
CODE_REPLAYED = "oidc_code_replayed"  # and the first token revoked
REFUSED = "oidc_refused"


def refused(endpoint: str, reason: str, *, description: str | None = None, client_id: str | None = None,
            **fields) -> None:
    details = {"endpoint": endpoint}
    if description:
        details["description"] = description[:300]
    # Values below may come from the attacker: bounded before they reach the journal.
    journal.record(REFUSED, client_id=(client_id or None) and client_id[:128], reason=reason[:100],
                   details=details, **fields)
