"""CPU savings in botocore, for the store's clients only (docs/performance.md):

* item responses parsed as plain JSON (:class:`_ItemResponseParser`);
* the User-Agent string built once per set of features (:func:`_memoize_user_agent`).

Signing, HTTP, TLS, retries and error parsing stay botocore's: a transport of our
own was measured (0.6 → 0.1 ms of CPU per GetItem) and not kept, since it would put
hand-written SigV4, TLS and HTTP parsing on the path of every store call
(docs/performance.md).

All reach into botocore's private internals (the endpoint's parser factory, the
client's user-agent creator), which any botocore release may change. They are
applied only to the botocore version they were written and measured for
(:data:`WRITTEN_FOR`, the version pinned for the functions); under any other
version a warning is logged and botocore is left as it is: slower, never wrong.
Moving botocore means checking these two against its source, then moving
:data:`WRITTEN_FOR`.
"""

from __future__ import annotations

import logging
import re
from typing import cast

import botocore
import botocore.context
import botocore.parsers
from pynamodb.connection.base import Connection

log = logging.getLogger("aidants_connect.store")

WRITTEN_FOR = "1.44.8"


class _ItemResponseParser(botocore.parsers.JSONParser):
    """botocore walks every attribute of every item of a response against the service
    model, only to turn base64 blobs (``B``, ``BS``) into bytes: half the CPU of a
    request that reads a few dozen items (docs/performance.md). Our items hold no
    binary attribute, so for the item operations the JSON as decoded is already what
    botocore would return; a body that does carry a blob, errors and every other
    operation still go through botocore's own parsing."""

    _ITEM_OUTPUTS = frozenset(
        f"{op}Output"
        for op in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactWriteItems",
            "TransactGetItems",
        )
    )
    _BLOB_KEY = re.compile(rb'"BS?"\s*:')

    def _handle_json_body(self, raw_body, shape):
        if shape is not None and shape.name in self._ITEM_OUTPUTS and not self._BLOB_KEY.search(raw_body or b""):
            return self._parse_body_as_json(raw_body)
        return super()._handle_json_body(raw_body, shape)


class _ParserFactory(botocore.parsers.ResponseParserFactory):
    def create_parser(self, protocol_name):
        if protocol_name == "json":
            return _ItemResponseParser(**self._defaults)
        return super().create_parser(protocol_name)


def _memoize_user_agent(creator) -> None:
    """botocore rebuilds its User-Agent string twice per call, sanitising some thirty
    components each time (a sixth of a GetItem's CPU). It only changes with the
    features the call used, so it is built once per set of features."""
    build = creator.to_string
    built: dict[frozenset[str], str] = {}

    def to_string():
        context = botocore.context.get_context()
        key = frozenset(context.features) if context is not None else frozenset()
        text = built.get(key)
        if text is None:
            text = built[key] = build()
        return text

    creator.to_string = to_string


# Read on the class, a property is the property object itself (mypy types it as its getter).
ORIGINAL_CLIENT = cast(property, Connection.client)
_client_of = ORIGINAL_CLIENT.fget


def _client_with_item_parser(self):
    # The one place every botocore client of the store is made (models, transactions).
    client = _client_of(self)
    endpoint = client._endpoint
    if not isinstance(endpoint._response_parser_factory, _ParserFactory):
        factory = _ParserFactory()
        factory.set_parser_defaults(**getattr(endpoint._response_parser_factory, "_defaults", {}))
        endpoint._response_parser_factory = factory
        _memoize_user_agent(client._user_agent_creator)
    return client


PATCHED_CLIENT = property(_client_with_item_parser)


def apply(version: str | None = None) -> bool:
    """Patch pynamodb's ``Connection.client`` when botocore is ``WRITTEN_FOR``, else
    leave it (or put it back) as pynamodb has it; True when the patches are in place.
    ``version`` is botocore's own unless a test names another. Clients built before
    keep what they were built with."""
    version = botocore.__version__ if version is None else version
    if version != WRITTEN_FOR:
        log.warning(
            "botocore %s is not %s, the version the store's botocore speed-ups were written "
            "for: they are left out (shared/store/botocore_patches.py)",
            version,
            WRITTEN_FOR,
        )
        Connection.client = ORIGINAL_CLIENT  # type: ignore[method-assign, assignment]  # the monkeypatch itself
        return False
    Connection.client = PATCHED_CLIENT  # type: ignore[method-assign, assignment]  # the monkeypatch itself
    return True
