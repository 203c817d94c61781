"""The entry point of a function's image, as the ``python3-http`` template runs it.

Our own equivalent of the template's ``index.py`` (faas-cli takes the real one from
the template's git source at build time; this one is what ``python -m deploy
build-context`` puts in a build context so that the context can be run and tested
without Docker). It keeps the template's observable behaviour, DESIGN.md §6:

* one Flask catch-all route for every method but OPTIONS (Flask answers that itself);
* ``handle(event, context)`` imported from the package ``function``;
* ``event.body`` bytes, ``event.headers`` case-insensitive, ``event.query`` a
  multi-dict, ``event.path`` the path after the gateway removed ``/function/<name>``;
* a returned dict: ``statusCode`` (default 200); ``body`` sent as JSON when it is a
  dict, passed through ``str()`` otherwise (bytes come out as ``"b'…'"``) and empty
  when absent; ``headers`` a dict or a list of ``(name, value)`` pairs;
* ``None`` is an empty 200; anything else goes to Flask as it is;
* an exception is Flask's own 500 page: the template has no error handler;
* waitress with its default 4 threads, on port 5000 behind the of-watchdog.

``INDEX_HOST`` and ``INDEX_PORT`` exist only so that tests can run several contexts
side by side; the image never sets them.
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
    if type(result) is not dict:  # the template tests the exact type
        return result
    if "body" not in result:
        body = ""
    elif type(result["body"]) is dict:
        body = jsonify(result["body"])
    else:
        body = str(result["body"])
    headers = result.get("headers", [])
    if type(headers) is dict:
        headers = list(headers.items())
    return body, result.get("statusCode", 200), headers


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def call_handler(path):
    return to_flask(handler.handle(Event(), Context()))


if __name__ == "__main__":
    serve(app, host=os.getenv("INDEX_HOST", "0.0.0.0"), port=int(os.getenv("INDEX_PORT", "5000")))
