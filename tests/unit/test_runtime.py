"""local.runtime behaves as the python3-http template: handle(event, context) → HTTP."""
import json
from types import ModuleType

from local.runtime import make_app


def _module(handle):
    module = ModuleType("function.handler")
    module.handle = handle
    return module


def test_event_carries_body_headers_method_query_path():
    seen = {}

    def handle(event, context):
        seen.update(body=event.body, method=event.method, path=event.path, q=event.query.get("a"),
                    ct=event.headers.get("content-type"), host=context.hostname)
        return {"statusCode": 201, "body": {"ok": True}, "headers": [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]}

    client = make_app(_module(handle)).test_client()
    r = client.post("/api/x?a=1", data=b"raw", headers={"Content-Type": "text/plain"})
    assert r.status_code == 201 and r.get_json() == {"ok": True}
    # As in the real template (Flask's headers.update), a repeated header name in the
    # list keeps only the last value: handlers send at most one Set-Cookie.
    assert r.headers.getlist("Set-Cookie") == ["b=2"]
    assert seen == {"body": b"raw", "method": "POST", "path": "/api/x", "q": "1", "ct": "text/plain",
                    "host": seen["host"]}


def test_a_handler_that_raises_answers_a_json_500():
    def handle(event, context):
        raise ValueError("boom")

    client = make_app(_module(handle)).test_client()
    r = client.get("/")
    assert r.status_code == 500 and json.loads(r.data)["error"] == "server_error"
    assert client.get("/").status_code == 500  # and keeps serving
