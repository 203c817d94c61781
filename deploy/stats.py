"""The public statistics' counters recomputed from the data
(``python -m deploy stats backfill [--check]``; ``python -m local stats backfill``
runs the same against the local store). What it reads and why its corrections are
safe under live traffic: ``shared/stats/backfill.py``.

``--check`` writes nothing: it reports each counter's drift (the counter, what the
data says) and the marks missing, and exits 1 if any. Without it, the drift is
corrected (ADD of the difference) and the marks written; run it once on a table
created before the statistics, then ``--check`` whenever in doubt. It needs
``dynamodb:Query``, ``BatchGetItem``, ``GetItem``, ``DescribeTable``, and, to write,
``UpdateItem`` (the counters, the marks); no secret.
"""

from __future__ import annotations

from datetime import date

from .store_target import point_store_at


def backfill(
    check_only: bool,
    since: str | None = None,
    settle: float = 2.0,
    endpoint: str | None = None,
    table_name: str | None = None,
) -> tuple[bool, list[str]]:
    point_store_at(endpoint, table_name)
    from shared.stats import backfill as recompute

    report = recompute.run(check_only=check_only, since=date.fromisoformat(since) if since else None, settle=settle)
    return report.ok if check_only else not report.unsettled, report.lines()


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["backfill"])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on drift")
    parser.add_argument(
        "--since",
        metavar="YYYY-MM-DD",
        help="read the journal from this UTC day (default: the day the table was created)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds between the first read of the counters and the data (index lag)",
    )
