"""Every function writes one JSON line per request (shared/http.py ``access_log``):
function, route template, status, duration, DynamoDB calls and the gateway's call id;
no id, token, code or address of anyone."""

from __future__ import annotations

import json

import requests

MARKER = "INFO:aidants_connect.request:"  # logging.basicConfig's format, as in the image (shared/logs.py)


def _lines(stack, folder: str) -> list[dict]:
    text = (stack.state / "logs" / f"{folder}.log").read_text(errors="replace")
    return [json.loads(line.split(MARKER, 1)[1]) for line in text.splitlines() if MARKER in line]


def test_a_request_leaves_one_line_with_its_route_template_and_the_gateways_call_id(stack):
    browser = stack.login(requests.Session(), stack.seed["aidant"]["email"])
    mandate_id = stack.seed["mandate"]["id"]
    before = len(_lines(stack, "mandate_read"))
    r = browser.get(f"{stack.url}/api/mandates/{mandate_id}", timeout=30)
    assert r.status_code == 200, r.text
    new = _lines(stack, "mandate_read")[before:]
    (line,) = [entry for entry in new if entry["route"] == "/api/mandates/{id}"]
    assert line["function"] == "mandate-read" and line["method"] == "GET" and line["status"] == 200
    assert line["store_calls"] >= 1 and line["ms"] > 0
    assert len(line["call_id"]) == 36  # the uuid the gateway stamped, as OpenFaaS's does
    log_text = (stack.state / "logs" / "mandate_read.log").read_text(errors="replace")
    assert mandate_id not in "".join(text for text in log_text.splitlines() if MARKER in text)


def test_the_login_leaves_no_address_or_code_in_the_request_lines(stack):
    email = stack.new_aidant()
    code = stack.otp(email)
    requests.post(stack.url + "/api/login", json={"email": email, "otp": code}, timeout=30)
    lines = "\n".join(json.dumps(line) for line in _lines(stack, "otp_verify"))
    assert '"route": "/api/login"' in lines
    assert email not in lines and code not in lines
