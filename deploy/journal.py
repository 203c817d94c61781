"""Verifying a deployed journal against its seals (``python -m deploy journal verify``).

Read-only: a Query per seal page and per day and shard of gsi3, a GetItem per entry
missing from its window. It needs ``dynamodb:Query`` and ``dynamodb:GetItem`` on the
table and its indexes (the ops credentials in the environment, botocore's default
chain), and no secret: the seals are plain SHA-256, checkable by anyone who can read
the table. The table is ``TABLE_NAME`` (or ``--table-name``) in ``AWS_REGION``.
"""

from __future__ import annotations

from .store_target import point_store_at


def verify(
    endpoint: str | None = None, table_name: str | None = None, anchor: str | None = None
) -> tuple[bool, list[str]]:
    point_store_at(endpoint, table_name)
    from shared import seals

    parsed = seals.parse_anchor(anchor) if anchor else None
    report = seals.verify(parsed)
    return report.ok, report.lines()
