"""What a handler can observe of the ``python3-http`` template, one test per behaviour.

Each test runs against every runtime a handler meets, each in its own process over
real HTTP (waitress included: some behaviours are waitress's):

* ``local-runtime``: ``python -m local.runtime``, what ``make up`` and the
  integration tests run;
* ``stand-in``: our ``deploy/template/python3-http/index.py`` run as the image runs
  it (``python index.py`` beside ``function/``), what a build context carries;
* ``pinned-template``: the template's own ``index.py`` at the commit ``stack.yml``
  pins, when a checkout is at hand (``faas-cli template pull stack`` leaves one in
  ``./template/python3-http``; or ``PYTHON3_HTTP_TEMPLATE=<folder>``), verified
  file for file against ``deploy/template/python3-http/pin.json`` first.

A behaviour of the template that a handler relies on, or that would make a handler
bug show, is stated here; the handler used is tests/unit/template_probe/handler.py.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from deploy import template_pin

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().parent / "template_probe"
HOSTNAME = "probe-replica-1"
FLASK_500_TITLE = "<title>500 Internal Server Error</title>"
FLASK_404_TITLE = "<title>404 Not Found</title>"
FLASK_405_TITLE = "<title>405 Method Not Allowed</title>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _image_layout(entry_point: Path, home: Path) -> Path:
    """/home/app as the template's Dockerfile lays it out: index.py, function/ with
    an empty __init__.py and the handler."""
    (home / "function").mkdir(parents=True)
    shutil.copy2(entry_point, home / "index.py")
    (home / "function" / "__init__.py").touch()
    shutil.copy2(PROBE / "handler.py", home / "function" / "handler.py")
    return home


class Runtime:
    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict, port: int, log: Path):
        self.name, self.url, self.log = name, f"http://127.0.0.1:{port}", log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"{name} exited:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError as err:
                if time.time() > deadline:
                    raise AssertionError(f"{name} did not start:\n{log.read_text()}") from err
                time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _start(name: str, folder: Path) -> Runtime:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "INDEX_"))}
    env["HOSTNAME"] = HOSTNAME
    log = folder / "output.log"
    if name == "local-runtime":
        return Runtime(
            name,
            [sys.executable, "-m", "local.runtime", "--handler-dir", str(PROBE), "--port", str(port)],
            ROOT,
            env,
            port,
            log,
        )
    if name == "stand-in":
        home = _image_layout(template_pin.STAND_IN / "index.py", folder / "home")
        env.update(INDEX_HOST="127.0.0.1", INDEX_PORT=str(port))
        return Runtime(name, [sys.executable, "index.py"], home, env, port, log)
    checkout = template_pin.checkout()
    if checkout is None:
        pytest.skip("no checkout of the pinned template (faas-cli template pull stack, or PYTHON3_HTTP_TEMPLATE)")
    problems = template_pin.verify(checkout)
    assert problems == [], f"{checkout} is not the template stack.yml pins: {problems}"
    home = _image_layout(checkout / "index.py", folder / "home")
    # The template binds 0.0.0.0:5000 in `python index.py`; here its app is served the
    # way its __main__ does, waitress.serve(app, host, port), on a free loopback port.
    serve = (
        "import sys, waitress; sys.path.insert(0, '.'); import index; "
        "waitress.serve(index.app, host='127.0.0.1', port=int(sys.argv[1]))"
    )
    return Runtime(name, [sys.executable, "-c", serve, str(port)], home, env, port, log)


@pytest.fixture(scope="module", params=["local-runtime", "stand-in", "pinned-template"])
def runtime(request, tmp_path_factory):
    started = _start(request.param, tmp_path_factory.mktemp(request.param))
    yield started
    started.stop()


def _raw(runtime, method: str, path: str, headers: list[tuple[str, str]] = ()) -> tuple[int, bytes]:
    """A request written as given (requests would merge headers, resolve dots)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(runtime.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _echo(runtime, method="GET", path="/echo", **kwargs) -> dict:
    r = requests.request(method, runtime.url + path, timeout=10, **kwargs)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.json()


# -- the event ------------------------------------------------------------------------


def test_the_body_is_the_raw_bytes_as_sent(runtime):
    sent = b"\x00\xff{not json\r\n\xc3\xa9"
    seen = _echo(runtime, "POST", data=sent, headers={"Content-Type": "application/octet-stream"})
    assert seen["body_type"] == "bytes" and bytes.fromhex(seen["body_hex"]) == sent


def test_a_form_body_is_not_parsed_away(runtime):
    seen = _echo(runtime, "POST", data={"a": "1", "b": "é"})  # application/x-www-form-urlencoded
    assert bytes.fromhex(seen["body_hex"]) == b"a=1&b=%C3%A9"


def test_no_body_is_empty_bytes(runtime):
    seen = _echo(runtime)
    assert seen["body_type"] == "bytes" and seen["body_hex"] == ""


def test_headers_are_read_in_any_case(runtime):
    seen = _echo(runtime, "POST", data=b"{}", headers={"CONTENT-TYPE": "application/json"})
    assert seen["content_type_lower"] == seen["content_type_title"] == "application/json"


def test_a_header_name_with_an_underscore_never_arrives(runtime):
    # waitress drops it: in the WSGI environ it would be indistinguishable from X-Forwarded-For.
    seen = _echo(runtime, headers={"X_Forwarded_For": "6.6.6.6", "X-Kept": "1"})
    names = [name.lower() for name, _ in seen["headers"]]
    assert "x-kept" in names and not any("forwarded" in name for name in names)


def test_a_repeated_header_arrives_once_joined_with_a_comma(runtime):
    # waitress joins the two lines, a Cookie too: "a=1, b=2" (browsers send one).
    status, body = _raw(runtime, "GET", "/echo", [("Cookie", "a=1"), ("Cookie", "b=2")])
    assert status == 200
    assert [v for k, v in json.loads(body)["headers"] if k.lower() == "cookie"] == ["a=1, b=2"]


def test_the_query_is_a_multi_dict_decoded_from_the_url(runtime):
    seen = _echo(runtime, path="/echo?a=1&a=2&b=x+y&c=%C3%A9&d=")
    assert seen["query_lists"] == {"a": ["1", "2"], "b": ["x y"], "c": ["é"], "d": [""]}
    assert seen["query_first"]["a"] == "1"  # .get() gives the first value


def test_the_path_is_percent_decoded(runtime):
    # An encoded slash is a slash by the time the handler sees it: a route parameter
    # can never hold one.
    seen = _echo(runtime, path="/api/a%2Fb/c%20d")
    assert seen["path"] == "/api/a/b/c d"


def test_the_path_is_not_normalised(runtime):
    status, body = _raw(runtime, "GET", "/api//x/../y/")
    assert status == 200 and json.loads(body)["path"] == "/api//x/../y/"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_the_five_methods_reach_the_handler(runtime, method):
    assert _echo(runtime, method)["method"] == method


def test_head_runs_the_handler_and_sends_no_body(runtime):
    r = requests.head(runtime.url + "/echo", timeout=10)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 0


def test_options_is_answered_by_flask_without_the_handler(runtime):
    r = requests.options(runtime.url + "/echo", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND"])
def test_another_method_is_flasks_html_405(runtime, method):
    r = requests.request(method, runtime.url + "/echo", timeout=10)
    assert r.status_code == 405 and FLASK_405_TITLE in r.text and r.headers["Content-Type"].startswith("text/html")


def test_a_path_with_a_newline_is_flasks_html_404_not_the_handler(runtime):
    r = requests.get(runtime.url + "/api/login/abc%0Adef", timeout=10)
    assert r.status_code == 404 and FLASK_404_TITLE in r.text  # the edge refuses these as JSON first


def test_get_under_static_is_flasks_404_not_the_handler(runtime):
    # Flask(__name__) adds its static route: GET /static/<path> never reaches handle().
    r = requests.get(runtime.url + "/static/anything", timeout=10)
    assert r.status_code == 404 and FLASK_404_TITLE in r.text
    assert _echo(runtime, "POST", path="/static/anything")["path"] == "/static/anything"


def test_context_hostname_is_the_replicas(runtime):
    assert _echo(runtime)["hostname"] == HOSTNAME


# -- the answer -------------------------------------------------------------------------


def test_a_dict_body_is_json_with_sorted_keys_and_escaped_non_ascii(runtime):
    r = requests.get(runtime.url + "/answer/dict-body", timeout=10)
    assert r.status_code == 201 and r.headers["Content-Type"] == "application/json"
    assert r.text == '{"a":"\\u00e9","b":1}\n'


def test_a_str_body_is_html_by_default(runtime):
    r = requests.get(runtime.url + "/answer/str-body", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == "texte é".encode()


def test_a_bytes_body_is_sent_as_its_repr(runtime):
    # Why shared.http encodes every body to str itself.
    assert requests.get(runtime.url + "/answer/bytes-body", timeout=10).text == "b'raw'"


def test_a_list_body_is_sent_as_its_repr_not_json(runtime):
    assert requests.get(runtime.url + "/answer/list-body", timeout=10).text == "[1, 'a']"


def test_no_body_is_an_empty_answer_with_its_status(runtime):
    r = requests.get(runtime.url + "/answer/no-body", timeout=10)
    assert r.status_code == 202 and r.content == b""


def test_none_is_an_empty_200(runtime):
    r = requests.get(runtime.url + "/answer/none", timeout=10)
    assert r.status_code == 200 and r.content == b""


def test_a_result_that_is_not_a_dict_goes_to_flask_as_it_is(runtime):
    assert requests.get(runtime.url + "/answer/plain-string", timeout=10).text == "plain"
    r = requests.get(runtime.url + "/answer/tuple", timeout=10)
    assert r.status_code == 203 and r.text == "tuple"


def test_a_dict_subclass_is_not_unpacked_but_sent_as_json(runtime):
    # The template tests type(result) is dict: an OrderedDict is Flask's, i.e. JSON.
    r = requests.get(runtime.url + "/answer/dict-subclass", timeout=10)
    assert r.status_code == 200 and r.json() == {"statusCode": 201, "body": "x"}


def test_headers_may_be_a_dict(runtime):
    r = requests.get(runtime.url + "/answer/headers-dict", timeout=10)
    assert r.headers["X-One"] == "1" and r.headers["X-Two"] == "2"


def test_a_repeated_header_is_kept_with_a_str_body(runtime):
    r = requests.get(runtime.url + "/answer/cookies-str-body", timeout=10)
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_a_repeated_header_keeps_only_its_last_value_with_a_dict_body(runtime):
    # Flask merges the headers into jsonify's response with headers.update(): a second
    # Set-Cookie replaces the first. Why shared.http sends JSON as a str body.
    r = requests.get(runtime.url + "/answer/cookies-dict-body", timeout=10)
    assert r.raw.headers.getlist("Set-Cookie") == ["b=2"]


def test_the_handlers_content_type_replaces_the_default(runtime):
    r = requests.get(runtime.url + "/answer/content-type-str-body", timeout=10)
    assert r.headers["Content-Type"] == "application/json; charset=utf-8" and r.json() == {}
    r = requests.get(runtime.url + "/answer/content-type-dict-body", timeout=10)
    assert r.headers["Content-Type"] == "application/problem+json" and r.json() == {"a": 1}


def test_a_handler_that_raises_gets_flasks_html_500_and_a_traceback_in_the_log(runtime):
    r = requests.get(runtime.url + "/answer/raise", timeout=10)
    assert r.status_code == 500 and FLASK_500_TITLE in r.text
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert _echo(runtime)["method"] == "GET"  # and the process keeps serving
    deadline = time.time() + 5
    while "ValueError: the handler failed" not in runtime.output() and time.time() < deadline:
        time.sleep(0.05)
    log = runtime.output()
    assert "ERROR:index:Exception on /answer/raise [GET]" in log and "ValueError: the handler failed" in log


def test_the_server_header_is_waitress(runtime):
    assert requests.get(runtime.url + "/answer/none", timeout=10).headers["Server"] == "waitress"


def test_logging_prints_warnings_not_info_as_basic_config_does(runtime):
    # waitress.serve calls logging.basicConfig(): root at WARNING, "LEVEL:name:message"
    # on stderr. shared/logs.py raises our own loggers to INFO (test_logs.py).
    assert requests.get(runtime.url + "/answer/log", timeout=10).text == "logged"
    deadline = time.time() + 5
    while "a warning line" not in runtime.output() and time.time() < deadline:
        time.sleep(0.05)
    log = runtime.output()
    assert "WARNING:probe.library:a warning line" in log and "an info line" not in log


def test_four_threads_serve_requests(runtime):
    # waitress's default: a fifth request waits for a free thread.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda _: _echo(runtime, path="/answer/slow")["thread"], range(8)))
    assert set(seen) == {f"waitress-{i}" for i in range(4)}


# -- what shared.http hands the template -------------------------------------------------


def test_shared_http_never_hands_the_template_bytes_or_a_dict_body():
    """A dict body would lose all but the last Set-Cookie, bytes would arrive as
    "b'…'" (above): every answer's body leaves shared.http as a str."""
    from shared.http import Response

    for body in (b"<p>\xc3\xa9</p>", {"a": 1}, [1], None, "texte"):
        answer = Response(body=body).to_openfaas()
        assert type(answer["body"]) is str, body
        assert isinstance(answer["headers"], list)
    assert Response(body="é".encode()).to_openfaas()["body"] == "é"
