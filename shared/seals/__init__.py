"""The tamper-evident journal: a hash chain of seals over every journal entry, so
that an entry altered, removed or slipped in after its seal is detected
(docs/reliability.md, "Tamper-evident journal").

* ``chain``: what a seal lists and what its hash covers; reading and appending links;
* ``windows``: the journal's entries of a time range, read by key (gsi3);
* ``raw``: items as stored, the Queries and GetItem the two above rest on;
* ``sealing``: the sealing run (the ``journal_seal`` function, ``python -m local
  journal seal``), late entries;
* ``verification``: the check (``python -m local journal verify``, ``python -m
  deploy journal verify``).

Settings: ``JOURNAL_SEAL_*`` in ``shared.config``.
"""

from .chain import GENESIS_HASH, Seal, Sealed, entry_digest, seals
from .sealing import Outcome, run_scheduled, scheduled_until, seal, seal_now
from .verification import Problem, Report, parse_anchor, verify

__all__ = [
    "GENESIS_HASH",
    "Outcome",
    "Problem",
    "Report",
    "Seal",
    "Sealed",
    "entry_digest",
    "parse_anchor",
    "run_scheduled",
    "scheduled_until",
    "seal",
    "seal_now",
    "seals",
    "verify",
]
