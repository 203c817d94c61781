"""The ops view of a running stack, one command: ``python -m local status`` (the same
report as ``python -m deploy status`` against a deployed table)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_local_status_shows_the_outbox_backlog_and_failed_emails(stack):
    env = {**os.environ, "LOCAL_STATE_DIR": str(stack.state)}
    out = subprocess.run(
        [sys.executable, "-m", "local", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert first.startswith("outbox: ") and "e-mails due" in first
    assert second.startswith("failed e-mails: ")
