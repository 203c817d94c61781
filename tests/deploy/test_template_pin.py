"""The python3-http template is pinned to one commit, and our stand-in of it
(deploy/template/python3-http, what build contexts and local.runtime carry) answers
for each of that commit's files: the same bytes, the same behaviour
(tests/unit/test_template_contract.py), or a file only the Docker build reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from deploy import context, template_pin
from local import stack

PIN = template_pin.load()
# Read by `docker build` only (IMAGE.md describes what it does); never run by a handler.
BUILD_ONLY = {
    "Dockerfile",
    "template.yml",
    "function/handler.py",
    "function/handler_test.py",
    "function/requirements.txt",
    "function/tox.ini",
}
OUR_NOTES = {"IMAGE.md", "pin.json"}


def test_every_file_of_the_pinned_template_is_accounted_for():
    assert set(PIN.files) == set(PIN.same_bytes) | set(PIN.same_behaviour) | BUILD_ONLY
    assert not set(PIN.same_bytes) & set(PIN.same_behaviour)


def test_the_stand_in_carries_the_same_bytes_or_its_own_equivalent():
    carried = {
        p.relative_to(template_pin.STAND_IN).as_posix()
        for p in template_pin.STAND_IN.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert carried == set(PIN.same_bytes) | set(PIN.same_behaviour) | OUR_NOTES
    for name in PIN.same_bytes:
        assert template_pin.blob_id((template_pin.STAND_IN / name).read_bytes()) == PIN.files[name], name
    # index.py is ours, not the template's code: its behaviour is what is compared.
    assert template_pin.blob_id((template_pin.STAND_IN / "index.py").read_bytes()) != PIN.files["index.py"]


def test_build_contexts_are_made_from_the_stand_in(tmp_path):
    name = sorted(stack.functions())[0]
    out = context.build_context(name, tmp_path / name)
    for carried in set(PIN.same_bytes) | set(PIN.same_behaviour):
        assert (out / carried).read_bytes() == (template_pin.STAND_IN / carried).read_bytes()


def test_the_stack_names_the_pinned_commit():
    templates = {t["name"]: t["source"] for t in stack.load()["configuration"]["templates"]}
    assert templates[PIN.template] == f"{PIN.repository}#sha-{PIN.commit}"


def test_blob_ids_are_gits():
    assert template_pin.blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob
    assert template_pin.blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_verify_names_what_differs_from_the_pinned_commit(tmp_path):
    folder = tmp_path / "python3-http"
    folder.mkdir()
    shutil.copy2(template_pin.STAND_IN / "requirements.txt", folder / "requirements.txt")
    (folder / "extra.py").write_text("")
    (folder / "meta.json").write_text(json.dumps({"sha": "0" * 40}))
    problems = template_pin.verify(folder)
    assert "Dockerfile: missing" in problems and "extra.py: not in the pinned template" in problems
    assert not any(p.startswith("requirements.txt") for p in problems)
    assert any(p.startswith("meta.json: faas-cli pulled 0000") for p in problems)
    done = subprocess.run(
        [sys.executable, "-m", "deploy", "template", "verify", str(folder)],
        cwd=stack.ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Dockerfile: missing" in done.stderr


def test_a_pulled_checkout_is_the_pinned_commit():
    checkout = template_pin.checkout()
    if checkout is None:
        pytest.skip("no ./template/python3-http (faas-cli template pull stack)")
    assert template_pin.verify(checkout) == []
