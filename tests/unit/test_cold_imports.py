"""What a function imports before it can answer (its cold start): oidc_metadata serves
two JSON documents and loads neither the store (botocore, pynamodb) nor Jinja2 nor
the mandate modules."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "shared.store",
    "pynamodb",
    "botocore",
    "jinja2",
    "shared.mandates",
    "shared.templates",
    "shared.sessions",
    "shared.notifications",
)


def _modules_after_loading(function: str) -> set[str]:
    """The modules the handler brings in, beyond those of the template (its Flask,
    which loads Jinja2 for itself, and waitress)."""
    code = (
        "import json, sys, flask, waitress; from local.runtime import load_entry_point, ROOT; "
        "sys.path.insert(0, str(ROOT)); before = set(sys.modules); "
        f"load_entry_point(ROOT / 'functions' / {function!r}); "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_oidc_metadata_loads_neither_the_store_nor_jinja2_nor_the_mandates():
    loaded = _modules_after_loading("oidc_metadata")
    assert "shared.oidc.metadata" in loaded
    assert not [m for m in loaded if m.startswith(HEAVY)], sorted(m for m in loaded if m.startswith(HEAVY))
