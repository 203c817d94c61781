"""What a benchmark run needs in the store before the clients start: a bench
structure with a few aidants (sessions opened directly), a few dozen usagers under
active mandates, and a registered FranceConnect client.

Sessions are opened with ``shared.sessions.open_session`` against the stack's
DynamoDB Local (the same item a login's e-mailed link creates), not through
``POST /api/login``: a login is not part of the identity-provider flow being
measured, and the e-mailed link would make set-up depend on the SMTP sink.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

DEMARCHES = ("papiers", "argent", "social")


def point_at(env: dict) -> None:
    """This process's ``shared`` talks to the stack's store, with its secrets."""
    os.environ.update(env)
    from shared import config, crypto, store

    config.reset_caches()
    crypto.reset_caches()
    store.configure()


@dataclass
class BenchWorld:
    structure_id: str
    client_id: str
    client_secret: str
    redirect_uri: str
    cookies: list[str]  # one session cookie value per aidant
    usagers: list[tuple[str, str]] = field(default_factory=list)  # (usager id, démarche)
    mandates: dict[str, str] = field(default_factory=dict)  # usager id → mandate id (the offer's)


def build(aidants: int = 4, usagers: int = 30) -> BenchWorld:
    from shared import accounts, cgu, crypto, mandates, sessions
    from shared.http import Response
    from shared.oidc import clients

    tag = crypto.new_id(6).lower()
    structure = accounts.new_structure(
        f"Structure du banc {tag}", "9" * 14, "1 rue du Banc, 75000 Paris", structure_id=f"bench-{tag}"
    )
    structure.save()
    cookies, aidant_ids = [], []
    for index in range(aidants):
        # Working aidants have accepted the terms of use (the identity provider's
        # offer and choice need it: shared.cgu).
        aidant, _ = accounts.create_aidant(
            f"banc-{tag}-{index}@bench.aidantsconnect.fr",
            "Aidant",
            f"Banc{index}",
            [structure.id],
            cgu_version=cgu.current_version(),
        )
        response = Response()
        sessions.open_session(aidant, structure.id, response)
        cookie = next(v for k, v in response.headers if k == "Set-Cookie")
        cookies.append(cookie.split(";", 1)[0].split("=", 1)[1])
        aidant_ids.append(aidant.id)
    chosen, mandate_of = [], {}
    for index in range(usagers):
        usager = mandates.upsert_usager(
            f"bench-{tag}-{index}",
            {
                "given_name": "Usager",
                "family_name": f"Banc{index:03d}",
                "birthdate": "1970-01-01",
                "gender": "female",
                "birthplace": "75107",
                "birthcountry": "99100",
                "email": f"usager{index}@example.fr",
            },
        )
        mandate = mandates.create(
            mandates.NewMandate(
                structure_id=structure.id,
                usager=usager,
                demarches=list(DEMARCHES),
                duration="long",
                is_remote=False,
                remote_consent=None,
                aidant_id=aidant_ids[index % len(aidant_ids)],
                aidant_name="Aidant Banc",
                text_snapshot="Mandat du banc",
            )
        )
        chosen.append((usager.id, DEMARCHES[index % len(DEMARCHES)]))
        mandate_of[usager.id] = mandate.id
    client_id = f"bench-fc-{tag}"
    redirect_uri = f"https://{client_id}.franceconnect.test/callback"
    _, secret = clients.register(
        client_id, "FranceConnect (banc)", [redirect_uri], client_secret=secrets.token_urlsafe(32)
    )
    return BenchWorld(structure.id, client_id, secret, redirect_uri, cookies, chosen, mandate_of)
