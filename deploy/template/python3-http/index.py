"""The entry point of a function's image, as the ``python3-http`` template runs it.

Our own equivalent of the template's ``index.py`` at the commit ``stack.yml`` pins
(``pin.json``; faas-cli takes the real file from the template's git source at build
time, and the template's code is not copied here). ``python -m deploy
build-context`` puts this file in a build context, and ``local.runtime`` runs it for
every function of ``make up`` and of the integration tests, so that both behave as
the image does. tests/unit/test_template_contract.py states each behaviour below
and runs it against this file, ``local.runtime`` and, when a checkout is at hand,
the pinned template itself:

* one Flask app, ``Flask(__name__)``: a catch-all route for GET, PUT, POST, PATCH
  and DELETE; Flask adds HEAD (the handler runs, the body is dropped) and answers
  OPTIONS itself; any other method is Flask's 405 page; so is its static route
  (``GET /static/…`` is Flask's 404 page, never the handler) and a path its
  ``path`` converter does not match (a newline: Flask's 404 page);
* ``handle(event, context)`` imported from the package ``function``;
* ``event.body`` the raw bytes, ``event.headers`` werkzeug's case-insensitive view
  of the WSGI environ (waitress drops a header whose name has ``_`` and joins a
  repeated one with ``", "``), ``event.query`` a multi-dict, ``event.method``,
  ``event.path`` the percent-decoded path (``%2F`` is a ``/``);
* ``context.hostname`` from ``HOSTNAME``, else ``localhost``;
* a returned dict: ``statusCode`` (default 200); ``body`` a dict → ``jsonify``
  (sorted keys, ``application/json``), anything else → ``str()`` (bytes come out as
  ``"b'…'"``, a list as its repr) sent as ``text/html; charset=utf-8`` unless the
  handler gives a Content-Type; absent → empty; ``headers`` a dict or a list of
  ``(name, value)`` pairs, a repeated name kept with a ``str()`` body and reduced
  to its last value with a dict body (Flask's ``headers.update`` on the response
  ``jsonify`` made);
* ``None`` is an empty 200; anything else goes to Flask as it is;
* an exception is Flask's own 500 page (HTML), its traceback logged as
  ``ERROR:index:Exception on <path> [<method>]``: the template has no error handler;
* ``waitress.serve(app, host, port)`` with waitress's defaults (4 threads,
  ``Server: waitress``), which also calls ``logging.basicConfig()``: the root logger
  prints WARNING and above to stderr as ``LEVEL:logger:message``.

``INDEX_HOST`` and ``INDEX_PORT`` exist only so that tests can run several contexts
side by side; the image never sets them (the template binds 0.0.0.0:5000).
"""

import os

from flask import Flask, jsonify, request
from function import handler
from waitress import serve

app = Flask(__name__)
METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE"]


class Event:
    def __init__(self):
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path


class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")


def to_flask(result):
    if result is None:
        return "", 200
    if type(result) is not dict:  # the template tests the exact type: a dict subclass passes through
        return result
    if "body" not in result:
        body = ""
    elif type(result["body"]) is dict:
        body = jsonify(result["body"])
    else:
        body = str(result["body"])
    headers = result["headers"] if "headers" in result else []
    if type(headers) is dict:
        headers = list(headers.items())
    return body, result["statusCode"] if "statusCode" in result else 200, headers


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def call_handler(path):
    return to_flask(handler.handle(Event(), Context()))


if __name__ == "__main__":
    serve(app, host=os.getenv("INDEX_HOST", "0.0.0.0"), port=int(os.getenv("INDEX_PORT", "5000")))
