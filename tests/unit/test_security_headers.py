"""The Content-Security-Policy and its companion headers are written once
(shared/security_headers.py) and sent the same by the functions, the local gateway
and the production edge."""

from __future__ import annotations

import re

from deploy import ingress
from local import gateway, stack
from shared import security_headers
from shared.http import html_response, json_response

ROOT = stack.ROOT
# What only a policy or a security header's value would contain.
POLICY_WORDS = re.compile(r"frame-ancestors|default-src|-src '|max-age=63072000|\bnosniff\b|Referrer-Policy")


def test_no_other_source_file_writes_a_policy():
    sources = [
        p
        for folder in ("shared", "local", "deploy", "functions")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".j2", ".html", ".conf")
    ]
    writers = sorted(
        str(p.relative_to(ROOT))
        for p in sources
        if p.name != "security_headers.py"
        and "generated" not in p.parts
        and POLICY_WORDS.search(p.read_text(errors="replace"))
    )
    assert writers == []


def test_a_page_rendered_by_a_function_carries_the_page_policy():
    headers = html_response("<p>page</p>").to_openfaas()["headers"]
    for header in (*security_headers.PAGE_HEADERS, *security_headers.ANSWER_HEADERS):
        assert header in headers
    assert "script-src 'self'" in security_headers.PAGE_CSP and "form-action 'none'" in security_headers.PAGE_CSP


def test_every_function_answer_is_unsniffable_and_keeps_its_urls():
    headers = json_response({"ok": True}).to_openfaas()["headers"]
    assert ("X-Content-Type-Options", "nosniff") in headers and ("Referrer-Policy", "same-origin") in headers


def test_the_local_gateway_serves_the_front_end_with_the_static_policy(tmp_path):
    from frontend import build

    build.build()  # what `local up` does first: the gateway serves build/frontend/
    local = gateway.Gateway(env={}, log_dir=tmp_path, mail_dir=tmp_path)
    for path, code in (("/", "200"), ("/no-such-page.html", "404")):
        status, headers, _ = local.dispatch(
            {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": "", "wsgi.input": None, "CONTENT_LENGTH": "0"}
        )
        assert status.split()[0] == code
        for header in security_headers.STATIC_HEADERS:
            assert header in headers, (path, header)


def _add_headers(conf: str, location: str) -> dict[str, str]:
    block = conf.split(f"    location {location} {{\n", 1)[1].split("\n    }", 1)[0]
    found = re.finditer(r'add_header (\S+) ("[^"]*"|[^\s;]+)(?: always)?;', block)
    return {m.group(1): m.group(2).strip('"') for m in found}


def test_the_edge_sends_the_same_policies():
    conf = ingress.generate("nginx")
    static = _add_headers(conf, "/")
    assert static["Content-Security-Policy"] == security_headers.STATIC_CSP
    assert static["X-Frame-Options"] == "DENY" and static["X-Content-Type-Options"] == "nosniff"
    assert static["Strict-Transport-Security"] == security_headers.HSTS[1]
    api = _add_headers(conf, "@method_not_allowed")
    assert api["Content-Security-Policy"] == security_headers.EDGE_CSP
    plain = ingress.nginx_conf(stack.routes(), ingress.default_options(tls=False))
    assert "Strict-Transport-Security" not in plain, "HSTS only where TLS ends"


def test_every_policy_forbids_framing():
    for policy in (security_headers.STATIC_CSP, security_headers.PAGE_CSP, security_headers.EDGE_CSP):
        assert "frame-ancestors 'none'" in policy.split("; ")
