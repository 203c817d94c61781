"""store/botocore_patches.py: the speed-ups reach into botocore's private internals,
so they are applied only to the botocore version they were written for."""

import logging

import botocore
from pynamodb.connection.base import Connection

from shared.store import botocore_patches


def test_the_patches_are_written_for_the_installed_botocore():
    # Moving botocore means re-reading the patches against its source first.
    assert botocore.__version__ == botocore_patches.WRITTEN_FOR
    assert Connection.client is botocore_patches.PATCHED_CLIENT


def test_another_botocore_version_gets_a_warning_and_no_patch(monkeypatch, caplog):
    monkeypatch.setattr(Connection, "client", botocore_patches.PATCHED_CLIENT)
    with caplog.at_level(logging.WARNING, logger="aidants_connect.store"):
        assert botocore_patches.apply("1.99.0") is False
    assert Connection.client is botocore_patches.ORIGINAL_CLIENT
    assert any("1.99.0" in r.getMessage() and botocore_patches.WRITTEN_FOR in r.getMessage() for r in caplog.records)


def test_the_version_written_for_gets_the_patches(monkeypatch, caplog):
    monkeypatch.setattr(Connection, "client", botocore_patches.ORIGINAL_CLIENT)
    with caplog.at_level(logging.WARNING, logger="aidants_connect.store"):
        assert botocore_patches.apply(botocore_patches.WRITTEN_FOR) is True
    assert Connection.client is botocore_patches.PATCHED_CLIENT
    assert not caplog.records


def test_a_client_of_the_store_parses_items_as_plain_json(moto_store):
    client = moto_store.Item._get_connection().connection.client
    assert isinstance(client._endpoint._response_parser_factory, botocore_patches._ParserFactory)
    structure = moto_store.Structure.new("s1", name="Structure", siret="12345678900011", address="1 rue")
    structure.save()
    assert moto_store.Structure.find("s1").name == "Structure"  # read back through the plain-JSON parser


def test_without_the_patches_a_client_keeps_botocores_own_parser(monkeypatch, moto_store):
    monkeypatch.setattr(Connection, "client", botocore_patches.ORIGINAL_CLIENT)
    fresh = Connection(**moto_store.transaction_kwargs())
    assert not isinstance(fresh.client._endpoint._response_parser_factory, botocore_patches._ParserFactory)
