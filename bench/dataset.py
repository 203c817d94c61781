"""Background data for scaling runs: N usagers, each with a mandate and an
autorisation, spread over N/100 other structures (a real structure follows a few
hundred usagers at most; the table as a whole is what grows)."""

from __future__ import annotations

import concurrent.futures
from datetime import timedelta

from shared import crypto
from shared.demarches import DEMARCHES
from shared.store import Autorisation, Item, Mandate, Usager, now

_KEYS = list(DEMARCHES)


def _items(index: int, signed_at) -> list[Item]:
    structure_id = f"bench-structure-{index // 100}"
    usager_id = f"bench-usager-{index}"
    mandate_id = f"bench-mandate-{index}"
    demarche = _KEYS[index % len(_KEYS)]
    expires = signed_at + timedelta(days=1 + index % 365)
    usager = Usager(
        *Usager.key(usager_id),
        id=usager_id,
        fc_sub=crypto.new_id(),
        given_name="Usager",
        family_name=f"N{index}",
        birthdate="1970-01-01",
        created_at=signed_at,
    )
    mandate = Mandate.new(
        mandate_id,
        structure_id=structure_id,
        usager_id=usager_id,
        demarches=[demarche],
        active_demarches={demarche},
        duration="long",
        expires_at=expires,
        is_remote=False,
        signed_by="bench-aidant",
        usager_name=f"Usager N{index}",
        created_at=signed_at,
    )
    auth = Autorisation.new(
        mandate_id, demarche, structure_id=structure_id, usager_id=usager_id, expires_at=expires, created_at=signed_at
    )
    return [usager, mandate, auth]


def _write(start: int, stop: int) -> None:
    signed_at = now()
    with Item.batch_write() as batch:
        for index in range(start, stop):
            for item in _items(index, signed_at):
                batch.save(item)


def load(count: int, already: int = 0, threads: int = 4) -> int:
    """Add usagers up to ``count`` (idempotent per index); returns the new total."""
    if count <= already:
        return already
    chunk = 500
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda s: _write(s, min(s + chunk, count)), range(already, count, chunk)))
    return count
