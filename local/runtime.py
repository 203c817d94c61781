"""Runs one function exactly as the OpenFaaS ``python3-http`` template does: a Flask
app whose catch-all route builds ``Event``/``Context`` and calls
``handle(event, context)``, served by waitress. The gateway starts one process of this
per function (and per replica), as OpenFaaS starts one container.

    python -m local.runtime --function otp_verify --port 5001
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

from flask import Flask, jsonify, request
from waitress import serve
from werkzeug.exceptions import HTTPException

ROOT = Path(__file__).resolve().parent.parent


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


def _format(resp):
    if resp is None:
        return "", 200
    if not isinstance(resp, dict):
        return resp
    body = resp.get("body", "")
    body = jsonify(body) if isinstance(body, dict) else (body if isinstance(body, (str, bytes)) else str(body))
    headers = resp.get("headers", [])
    if isinstance(headers, dict):
        headers = list(headers.items())
    return body, resp.get("statusCode", 200), headers


def load_handler(folder: Path):
    spec = importlib.util.spec_from_file_location("function.handler", folder / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_app(handler_module) -> Flask:
    app = Flask(f"fn-{handler_module.__name__}")

    @app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def call_handler(path):
        return _format(handler_module.handle(Event(), Context()))

    @app.errorhandler(Exception)
    def crashed(exc):  # mirrors a crashed handler: 500, traceback in the log
        if isinstance(exc, HTTPException):
            # Flask's own refusal before the handler runs (e.g. a path with a newline, which
            # its catch-all route does not match): the template answers it as a 4xx too.
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.code, "invalid_request")
            return jsonify(error=code, error_description="Requête refusée."), exc.code
        app.logger.exception("handler raised")
        return jsonify(error="server_error", error_description="Erreur interne du service."), 500

    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.function} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    logging.getLogger("pynamodb.settings").setLevel(logging.WARNING)
    sys.path.insert(0, str(ROOT))  # what PYTHONPATH does in the image: `import shared`
    app = make_app(load_handler(ROOT / "functions" / args.function))
    serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident=args.function,
          channel_timeout=30, _quiet=True)


if __name__ == "__main__":
    main()
