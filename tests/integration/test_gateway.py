"""The local gateway: routes from stack.yml, static files, faults of a function."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests


def replica_pids(stack, folder):
    """The function processes this stack's gateway started (not other stacks')."""
    out = subprocess.run(
        ["pgrep", "-P", str(stack.process.pid), "-f", f"local.runtime --function {folder} "],
        capture_output=True,
        text=True,
    ).stdout
    return [int(p) for p in out.split()]


def test_front_end_and_dsfr_are_served(stack):
    r = requests.get(stack.url + "/connexion/")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    css = requests.get(stack.url + "/dsfr/dsfr.min.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_path_traversal_never_leaves_the_front_end(stack):
    for path in [
        "/../stack.yml",
        "/%2e%2e/stack.yml",
        "/..%2fstack.yml",
        "/dsfr/../../../../stack.yml",
        "/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/frontend/../shared/config.py",
    ]:
        r = requests.get(stack.url + path)
        assert r.status_code in (400, 404), path
        assert "functions:" not in r.text and "root:" not in r.text


def test_unknown_api_path_is_json(stack):
    r = requests.post(stack.url + "/api/does-not-exist", json={})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = requests.delete(stack.url + "/api/login")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_mail_sink_is_readable_in_the_browser(stack):
    stack.login(requests.Session(), stack.new_aidant())
    listing = requests.get(stack.url + "/_local/mail/")
    assert listing.status_code == 200 and "Votre lien de connexion" in listing.text
    assert requests.get(stack.url + "/_local/mail/..%2f..%2fstack.json").status_code == 404


def test_a_killed_function_fails_one_request_then_comes_back(stack):
    assert requests.get(stack.url + "/api/me").status_code == 401
    [pid] = replica_pids(stack, "otp_verify")
    os.kill(pid, signal.SIGKILL)
    r = requests.get(stack.url + "/api/me")
    assert r.status_code in (502, 503) and r.json()["error"]
    deadline = time.time() + 30
    while time.time() < deadline:
        r = requests.get(stack.url + "/api/me")
        if r.status_code == 401:
            break
        time.sleep(0.2)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert replica_pids(stack, "otp_verify") != [pid]


def test_a_second_up_says_it_is_already_running(stack):
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state)}
    r = subprocess.run(
        [os.sys.executable, "-m", "local", "up"],
        cwd=Path(__file__).parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and "already running" in r.stderr
    assert (stack.state / "up.pid").exists()  # the running stack's lock is untouched
