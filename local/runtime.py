"""Runs one function as its image does: the ``python3-http`` template's entry point
(our stand-in of the pinned template, ``deploy/template/python3-http/index.py``,
whose behaviour tests/unit/test_template_contract.py checks against the real one)
with the handler folder as the package ``function``, served by ``waitress.serve``
with the template's arguments. Nothing else: no error handler, no logging set-up,
no waitress option of our own, so that a handler behaves here exactly as it will in
production (a handler that raises gets Flask's HTML 500 page here too).

The gateway starts one process of this per function (and per replica), as OpenFaaS
starts one container.

    python -m local.runtime --function otp_verify --port 5001
    python -m local.runtime --handler-dir path/to/folder --port 5001
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINT = ROOT / "deploy" / "template" / "python3-http" / "index.py"
WAITRESS_DEFAULT_THREADS = 4  # what the template's serve(app, host, port) runs


def load_entry_point(handler_dir: Path, entry_point: Path = ENTRY_POINT) -> types.ModuleType:
    """Import the template's ``index.py`` as the image does (``python index.py`` in
    ``/home/app``, the handler folder copied to ``/home/app/function`` with an empty
    ``__init__.py``): ``function`` is a package over ``handler_dir``, so that
    ``from function import handler`` and a handler's relative imports resolve the
    same way. Returns the module; its ``app`` is the Flask application."""
    package = types.ModuleType("function")
    package.__path__ = [str(handler_dir)]
    package.__file__ = str(handler_dir / "__init__.py")
    sys.modules["function"] = package
    sys.modules.pop("function.handler", None)
    spec = importlib.util.spec_from_file_location("index", entry_point)
    module = importlib.util.module_from_spec(spec)
    sys.modules["index"] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--function", help="a folder of functions/ (otp_verify)")
    target.add_argument("--handler-dir", help="any handler folder (tests)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--threads",
        type=int,
        default=WAITRESS_DEFAULT_THREADS,
        help="waitress threads (the template runs waitress's default, 4)",
    )
    args = parser.parse_args(argv)
    # What PYTHONPATH=/home/app/function does in the image: `import shared`.
    sys.path.insert(0, str(ROOT))
    handler_dir = Path(args.handler_dir).resolve() if args.handler_dir else ROOT / "functions" / args.function
    index = load_entry_point(handler_dir)
    from waitress import serve

    options = {} if args.threads == WAITRESS_DEFAULT_THREADS else {"threads": args.threads}
    # The template binds 0.0.0.0:5000 behind its watchdog; here the gateway is on loopback.
    serve(index.app, host="127.0.0.1", port=args.port, **options)


if __name__ == "__main__":
    main()
