"""Public statistics (``GET /api/stats`` in openapi.yaml).

Counted as the events happen: each event adds its deltas to the counters in its own
transaction (``counters``: what each figure counts, and when it moves); the figures
are one BatchGet of the counters' shards (``figures``); expiry, which writes nothing
by itself, is counted by a scheduled run (``expiry``); ``backfill`` recomputes every
counter from the data (a table older than the statistics, or a check for drift).
"""

from .counters import (
    Delta,
    aidant_activity,
    count_demarche_done,
    demarche_done,
    mandate_ended,
    mandate_signed,
    structure_closed,
    structure_opened,
)
from .expiry import run_scheduled
from .figures import figures, forget_cached, totals

__all__ = [
    "Delta",
    "aidant_activity",
    "count_demarche_done",
    "demarche_done",
    "figures",
    "forget_cached",
    "mandate_ended",
    "mandate_signed",
    "run_scheduled",
    "structure_closed",
    "structure_opened",
    "totals",
]
