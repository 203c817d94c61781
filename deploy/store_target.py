"""The store an ops command works on: the deployed table (``TABLE_NAME`` in
``AWS_REGION``, botocore's credential chain) unless its command line names another
endpoint or table (a local DynamoDB, a copy)."""

from __future__ import annotations

import os


def point_store_at(endpoint: str | None = None, table_name: str | None = None) -> None:
    from shared import config, store

    if endpoint:
        os.environ["DYNAMODB_HOST"] = endpoint
    if table_name:
        os.environ["TABLE_NAME"] = table_name
    config.reset_caches()
    store.configure()
