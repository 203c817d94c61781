"""The ``python3-http`` template every image is built from, pinned to one commit.

``stack.yml`` names the template's git source with ``#sha-<commit>`` (faas-cli 0.18.0
and later clone the repository and check that commit out), and
``deploy/template/python3-http/pin.json`` records that commit and the git blob id of
each of its files. Two things follow from the record:

* our stand-in (``deploy/template/python3-http``: what ``python -m deploy
  build-context`` and ``local.runtime`` run) is checked against it: its
  ``requirements.txt`` has the same bytes, its ``index.py`` the same behaviour
  (tests/unit/test_template_contract.py runs one test per behaviour a handler relies
  on against both, when a checkout of the pinned template is at hand);
* a checkout faas-cli pulled (``./template/python3-http``, with its ``meta.json``)
  can be verified before a build: ``python -m deploy template verify``.

The template's own code is never copied into this repository: only its blob ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from local import stack

STAND_IN = Path(__file__).resolve().parent / "template" / "python3-http"
PIN_FILE = STAND_IN / "pin.json"
# Where `faas-cli template pull stack` writes it, in the project.
PULLED = stack.ROOT / "template" / "python3-http"
# Or any checkout of the template folder at the pinned commit.
CHECKOUT_ENV = "PYTHON3_HTTP_TEMPLATE"
SHA_PREFIX = "sha-"  # faas-cli's marker of a commit (not a branch or tag) after '#'


@dataclass(frozen=True)
class Pin:
    repository: str
    template: str
    commit: str
    files: dict[str, str]  # path in the template folder -> git blob id
    same_bytes: tuple[str, ...]  # files the stand-in carries as they are
    same_behaviour: tuple[str, ...]  # files the stand-in re-implements

    @property
    def source(self) -> str:
        """``configuration.templates[].source`` in stack.yml."""
        return f"{self.repository}#{SHA_PREFIX}{self.commit}"


def load(path: Path = PIN_FILE) -> Pin:
    raw = json.loads(path.read_text())
    return Pin(
        raw["repository"],
        raw["template"],
        raw["commit"],
        dict(raw["files"]),
        tuple(raw["same_bytes"]),
        tuple(raw["same_behaviour"]),
    )


def blob_id(data: bytes) -> str:
    """The id git gives a file's content (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verify(folder: Path, pin: Pin | None = None) -> list[str]:
    """How a template folder differs from the pinned commit, as sentences (empty: it is
    that commit's folder, file for file)."""
    pin = pin or load()
    if not folder.is_dir():
        return [f"{folder}: no such folder"]
    problems = []
    for name, expected in sorted(pin.files.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif blob_id(path.read_bytes()) != expected:
            problems.append(f"{name}: not the file of commit {pin.commit[:12]}")
    known = set(pin.files) | {"meta.json"}  # faas-cli writes meta.json when it pulls
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in known and "__pycache__" not in name:
            problems.append(f"{name}: not in the pinned template")
    meta = folder / "meta.json"
    if meta.is_file():
        sha = json.loads(meta.read_text()).get("sha")
        if sha != pin.commit:
            problems.append(f"meta.json: faas-cli pulled {sha}, stack.yml pins {pin.commit}")
    return problems


def checkout() -> Path | None:
    """A checkout of the pinned template folder, if one is at hand: ``$PYTHON3_HTTP_TEMPLATE``,
    else ``./template/python3-http`` as ``faas-cli template pull stack`` leaves it."""
    named = os.environ.get(CHECKOUT_ENV)
    if named:
        return Path(named)
    return PULLED if PULLED.is_dir() else None
