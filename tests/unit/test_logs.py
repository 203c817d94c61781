"""Our INFO lines reach the container log in the image, where the template sets up
no logging but waitress's ``logging.basicConfig()`` (root at WARNING): the first
request raises the ``aidants_connect`` loggers to INFO (shared/logs.py). Each case
runs in a fresh interpreter, as a function's process starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUEST = """
from types import SimpleNamespace
from shared.http import Router, json_response
router = Router()
router.route("GET", "/x")(lambda request: json_response({"ok": True}))
router.dispatch(SimpleNamespace(method="GET", path="/x", body=b"", headers={}, query={}))
"""


def _stderr(prelude: str, env: dict, after: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", prelude + REQUEST + after], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def env():
    return {
        **os.environ,
        "FUNCTION_NAME": "probe",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-3",
    }


def test_the_access_line_is_written_after_waitress_basic_config(env):
    err = _stderr("import logging; logging.basicConfig()\n", env)
    [line] = [text for text in err.splitlines() if text.startswith("INFO:aidants_connect.request:")]
    assert json.loads(line.split(":", 2)[2])["function"] == "probe"


def test_the_access_line_is_written_when_nobody_configured_logging(env):
    err = _stderr("", env)
    assert any(text.startswith("INFO:aidants_connect.request:{") for text in err.splitlines()), err


def test_other_libraries_stay_at_warning(env):
    err = _stderr(
        "import logging; logging.basicConfig()\n",
        env,
        after="logging.getLogger('botocore.probe').info('library chatter')\n"
        "logging.getLogger('botocore.probe').warning('library warning')\n",
    )
    assert "library chatter" not in err and "WARNING:botocore.probe:library warning" in err
