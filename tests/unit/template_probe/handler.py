"""A handler that reports what it received, or answers what a path asks for
(tests/unit/test_template_contract.py). Run by each python3-http runtime under test."""

import json
import logging
import threading
import time
from collections import OrderedDict

ANSWERS = {
    "dict-body": lambda: {"statusCode": 201, "body": {"b": 1, "a": "é"}},
    "str-body": lambda: {"body": "texte é"},
    "bytes-body": lambda: {"body": b"raw"},
    "list-body": lambda: {"body": [1, "a"]},
    "no-body": lambda: {"statusCode": 202},
    "none": lambda: None,
    "plain-string": lambda: "plain",
    "tuple": lambda: ("tuple", 203),
    "dict-subclass": lambda: OrderedDict(statusCode=201, body="x"),
    "headers-dict": lambda: {"body": "x", "headers": {"X-One": "1", "X-Two": "2"}},
    "cookies-str-body": lambda: {"body": "x", "headers": [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]},
    "cookies-dict-body": lambda: {"body": {"ok": True}, "headers": [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]},
    "content-type-str-body": lambda: {"body": "{}", "headers": [("Content-Type", "application/json; charset=utf-8")]},
    "content-type-dict-body": lambda: {"body": {"a": 1}, "headers": [("Content-Type", "application/problem+json")]},
}


def _echo(event, context):
    return {
        "body": json.dumps(
            {
                "method": event.method,
                "path": event.path,
                "body_type": type(event.body).__name__,
                "body_hex": event.body.hex(),
                "headers": [[k, v] for k, v in event.headers.items()],
                "content_type_lower": event.headers.get("content-type"),
                "content_type_title": event.headers.get("Content-Type"),
                "query_lists": {k: v for k, v in event.query.lists()},
                "query_first": dict(event.query.items()),
                "hostname": context.hostname,
                "thread": threading.current_thread().name,
            }
        )
    }


def handle(event, context):
    kind = event.path.rsplit("/", 1)[-1] if event.path.startswith("/answer/") else None
    if kind == "raise":
        raise ValueError("the handler failed")
    if kind == "log":
        logging.getLogger("probe.library").info("an info line")
        logging.getLogger("probe.library").warning("a warning line")
        return {"body": "logged"}
    if kind == "slow":
        time.sleep(0.4)
        return _echo(event, context)
    if kind in ANSWERS:
        return ANSWERS[kind]()
    return _echo(event, context)
