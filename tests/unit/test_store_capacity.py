"""Benchmarks measure read and write units per request from DynamoDB's own
ConsumedCapacity (STORE_MEASURE_CAPACITY); request paths never ask for it otherwise."""

from types import SimpleNamespace

import pytest

from shared import config
from shared.http import Router, json_response


@pytest.fixture
def sent(monkeypatch):
    """The operations and arguments every store call sends to DynamoDB."""
    from shared.store import instrumentation

    seen = []

    def spy_on(original):
        def spy(self, operation_name, operation_kwargs):
            seen.append((operation_name, dict(operation_kwargs)))
            return original(self, operation_name, operation_kwargs)

        return spy

    # pynamodb's dispatch, and the direct way item operations take (issue 19).
    monkeypatch.setattr(instrumentation, "_dispatch", spy_on(instrumentation._dispatch))
    monkeypatch.setattr(instrumentation, "_direct", spy_on(instrumentation._direct))
    return seen


def _router(store):
    router = Router()

    @router.route("POST", "/write-then-read")
    def write_then_read(request):
        structure = store.Structure(
            pk="STRUCTURE#s1", sk="STRUCTURE", id="s1", name="Une structure", siret="1" * 14, address="1 rue"
        )
        structure.save()
        store.Structure.get("STRUCTURE#s1", "STRUCTURE")
        return json_response({"ok": True})

    return router


def _call(router):
    event = SimpleNamespace(
        method="POST", path="/write-then-read", body=b"", query={}, headers={"Content-Type": "application/json"}
    )
    return router.dispatch(event)


def test_capacity_is_measured_per_request_when_asked(moto_store, monkeypatch, sent):
    monkeypatch.setenv("STORE_MEASURE_CAPACITY", "true")
    monkeypatch.setenv("EXPOSE_DIAGNOSTICS", "true")
    config.reset_caches()
    answer = _call(_router(moto_store))
    assert answer["statusCode"] == 200, answer
    headers = dict(answer["headers"])
    units = dict(part.split("=") for part in headers["X-Store-Units"].split(";"))
    assert float(units["write"]) >= 1 and float(units["read"]) > 0 and units["unmeasured"] == "0"
    assert all(kwargs.get("ReturnConsumedCapacity") == "TOTAL" for _, kwargs in sent)


def test_request_paths_do_not_ask_for_capacity_by_default(moto_store, monkeypatch, sent):
    monkeypatch.setenv("EXPOSE_DIAGNOSTICS", "true")
    config.reset_caches()
    answer = _call(_router(moto_store))
    assert answer["statusCode"] == 200 and "X-Store-Units" not in dict(answer["headers"])
    assert sent and not any("ReturnConsumedCapacity" in kwargs for _, kwargs in sent)
    assert moto_store.calls.read_units == moto_store.calls.write_units == 0
