"""What each event adds to the public figures, as one operation of the event's own
transaction (``shared/store/stats.py``: the shard items, and why they are shards).

The figures (openapi.yaml, docs/performance.md "Public statistics"):

* ``structures``: structures open (created, less those closed);
* ``aidants_active``: aidant accounts active (``Aidant.is_active``): +1 when an account
  becomes active (created active, activated, trained with a confirmed device), -1 when
  it stops being (deactivated in its last structure, training recorded incomplete).
  Activating an aidant already active in another structure changes nothing;
* ``usagers``: usagers accompanied, i.e. who have signed at least one mandate with a
  structure, ever: +1 with their first mandate (``Usager.accompanied_at``, set once);
* ``mandates_created``: mandates signed, ever;
* ``mandates_active``: mandates in force: +1 at signature, -1 once when the mandate
  stops being in force (``Mandate.stats_ended_at``, set once): revoked as a whole, all
  its démarches renewed by a newer mandate, or expired (the scheduled run,
  ``shared.stats.expiry``, a minute or so after the expiry);
* ``demarches_done``: démarches carried out, i.e. access tokens issued to
  FranceConnect for a usager (the identity is handed over with that token), by
  category (``cat:<démarche>``) and by month;
* by month (``month:<YYYY-MM>:<series>``, the month in Paris time):
  ``mandates_created`` and ``demarches_done``.

Every delta of one event goes to one shard item in one update (``Delta.write``),
so an event costs its transaction one more operation, never one per counter.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..config import settings
from ..store import Operation, StatsShard

PARIS = ZoneInfo("Europe/Paris")

STRUCTURES = "structures"
AIDANTS_ACTIVE = "aidants_active"
USAGERS = "usagers"
MANDATES_CREATED = "mandates_created"
MANDATES_ACTIVE = "mandates_active"
DEMARCHES_DONE = "demarches_done"
TOTALS = (STRUCTURES, AIDANTS_ACTIVE, USAGERS, MANDATES_CREATED, MANDATES_ACTIVE, DEMARCHES_DONE)
MONTHLY_SERIES = (MANDATES_CREATED, DEMARCHES_DONE)

CATEGORY_PREFIX = "cat:"
MONTH_PREFIX = "month:"


def category(demarche: str) -> str:
    return CATEGORY_PREFIX + demarche


def monthly(month: str, series: str) -> str:
    return f"{MONTH_PREFIX}{month}:{series}"


def month_of(moment: datetime | str) -> str:
    """The month (``YYYY-MM``, Paris time) an event belongs to."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(PARIS).strftime("%Y-%m")


class Delta(dict):
    """Counter name → amount, for one event."""

    def add(self, name: str, amount: int = 1) -> "Delta":
        self[name] = self.get(name, 0) + amount
        return self

    def operations(self, event_id: str) -> list[Operation]:
        """These deltas as operations of the event's transaction: one update of the
        shard of ``event_id`` (none when nothing moves). The shard depends on the
        event only, so the transaction sent again after a timeout (``store.writes``)
        is the very same one."""
        if not any(self.values()) or settings().sandbox:
            # The training sandbox publishes no figures: trainees' events would count
            # nothing real, and everything it writes must expire with them.
            return []
        return [("update", StatsShard.for_event(event_id), {"actions": StatsShard.add_actions(self)})]

    def write(self, tx, event_id: str) -> None:
        tx.include(self.operations(event_id))


# -- events -----------------------------------------------------------------------


def structure_opened() -> Delta:
    return Delta().add(STRUCTURES)


def structure_closed() -> Delta:
    """No code closes a structure yet; when one does, it writes this with the change."""
    return Delta().add(STRUCTURES, -1)


def aidant_activity(was_active: bool, active: bool) -> Delta:
    """An account's ``is_active`` going from ``was_active`` (as read, and as the
    write's condition checks) to ``active``."""
    return Delta().add(AIDANTS_ACTIVE, int(active) - int(was_active))


def mandate_signed(created_at: datetime, first_for_usager: bool, ends_in_force: int = 0) -> Delta:
    """A mandate signed; ``ends_in_force``: older mandates whose every démarche it
    renews, which stop being in force in the same transaction."""
    delta = Delta().add(MANDATES_CREATED).add(MANDATES_ACTIVE, 1 - ends_in_force)
    delta.add(monthly(month_of(created_at), MANDATES_CREATED))
    if first_for_usager:
        delta.add(USAGERS)
    return delta


def mandate_ended() -> Delta:
    return Delta().add(MANDATES_ACTIVE, -1)


def demarche_done(demarche: str, at: datetime | str) -> Delta:
    return Delta().add(DEMARCHES_DONE).add(category(demarche)).add(monthly(month_of(at), DEMARCHES_DONE))


def count_demarche_done(tx, entry) -> None:
    """The token's transaction counts the démarche its journal entry records (same
    démarche, same instant, so the month is the entry's): one more operation."""
    demarche_done(entry.demarche, entry.at).write(tx, entry.id)
