"""The Python dependencies are locked with hashes, and every function's
requirements.txt is the lock's entries for what that function imports.

requirements.in / requirements-dev.in / bench/requirements.in are edited by hand;
`make lock` writes the .lock files; `make requirements` writes the functions' files
(deploy/requirements.py). These tests fail when one of them was edited without the
command that follows from it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from deploy import requirements
from local import stack

ROOT = stack.ROOT
FUNCTIONS = stack.functions()
LOCKS = {
    "requirements.in": "requirements.lock",
    "requirements-dev.in": "requirements-dev.lock",
    "bench/requirements.in": "bench/requirements.lock",
}


def _inputs(path: Path) -> list[Requirement]:
    """The requirements of a hand-edited .in file, following its ``-r`` includes."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += _inputs(path.parent / line[3:].strip())
        elif line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_lists_the_locked_pins_of_what_it_imports(name):
    assert requirements.check(FUNCTIONS[name]) == []


def test_the_command_checks_every_function_file():
    check = subprocess.run(
        [sys.executable, "-m", "deploy", "requirements", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("source", LOCKS)
def test_every_lock_pins_what_its_input_asks_with_hashes(source):
    lock = requirements.load(ROOT / LOCKS[source])  # refuses an entry without hashes
    assert all(pin.hashes and all(h.startswith("sha256:") for h in pin.hashes) for pin in lock.values())
    for wanted in _inputs(ROOT / source):
        pin = lock.get(requirements.normalize(wanted.name))
        assert pin is not None, f"{wanted} is not in {LOCKS[source]}: run `make lock`"
        assert wanted.specifier.contains(pin.version, prereleases=True), (
            f"{LOCKS[source]} has {pin.name}=={pin.version}, {source} asks {wanted}: run `make lock`"
        )


def test_the_dev_and_bench_locks_keep_the_runtime_versions():
    """`make` installs requirements-dev.lock, the images the functions' files: both
    must be the same releases, file for file."""
    runtime = requirements.load(ROOT / "requirements.lock")
    dev = requirements.load(ROOT / "requirements-dev.lock")
    bench = requirements.load(ROOT / "bench/requirements.lock")
    for name, pin in runtime.items():
        assert name in dev and (dev[name].version, set(dev[name].hashes)) == (pin.version, set(pin.hashes)), name
    for name in set(bench) & set(dev):
        assert bench[name].version == dev[name].version, name


def test_botocore_and_boto3_are_pinned_exactly_in_the_input():
    """pynamodb reads botocore's internals and moto follows botocore's releases: an
    upgrade is a change to requirements.in, not a side effect of `make lock`."""
    specifiers = {requirements.normalize(r.name): str(r.specifier) for r in _inputs(ROOT / "requirements.in")}
    for name in ("botocore", "boto3"):
        assert specifiers[name].startswith("=="), name


def test_make_installs_the_locks_as_they_are():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in makefile
    assert "pip install -q --require-hashes -r bench/requirements.lock" in makefile
    assert "npm ci --ignore-scripts" in makefile and "npm install" not in makefile


def test_the_lock_parser_reads_pip_compile_and_uv_output():
    text = (
        "# header\n"
        "Foo_Bar==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via -r requirements.in\n"
        'baz==2.0 ; python_version < "3.12" \\\n    --hash=sha256:cc\n'
        "    # via\n    #   -c requirements.lock\n    #   foo-bar\n    #   qux\n"
        "qux[extra]==3 --hash=sha256:dd\n"
    )
    pins = requirements.parse(text)
    assert pins["foo-bar"] == requirements.Pin("foo-bar", "1.0", ("sha256:aa", "sha256:bb"))
    assert pins["baz"].marker == 'python_version < "3.12"' and pins["baz"].via == {"foo-bar", "qux"}
    assert pins["qux"].hashes == ("sha256:dd",) and pins["qux"].via == frozenset()
    assert requirements.closure({"foo-bar"}, pins) == {"foo-bar", "baz"}
    assert requirements.parse(pins["baz"].render())["baz"] == pins["baz"]
    with pytest.raises(requirements.LockError):
        requirements.parse("foo>=1\n")


# -- a function folder of our own, to see each kind of disagreement caught -----------


@pytest.fixture
def project(tmp_path):
    """A one-function project importing yaml (PyYAML) and requests, with the real lock."""
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
    handler = tmp_path / "functions" / "probe"
    handler.mkdir(parents=True)
    (handler / "handler.py").write_text(
        "import json\nimport yaml\n\n\ndef handle(event, context):\n"
        "    import requests\n    return requests, yaml, json\n"
    )
    (tmp_path / "stack.yml").write_text(
        yaml.safe_dump({"functions": {"probe": {"lang": "python3-http", "handler": "./functions/probe"}}})
    )
    fn = stack.functions(tmp_path / "stack.yml")["probe"]
    requirements.write_all(tmp_path)
    return tmp_path, fn, handler / "requirements.txt"


def test_the_written_file_is_the_imports_and_their_needs(project):
    root, fn, path = project
    listed = requirements.parse(path.read_text())
    lock = requirements.load(root / "requirements.lock")
    assert {"pyyaml", "requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= set(listed)
    # The template's runtime, which the function never imports, is listed with its needs.
    assert {"flask", "waitress", "werkzeug", "jinja2"} <= set(listed)
    assert not {"pynamodb", "botocore", "pyotp"} & set(listed)
    assert all(listed[name] == lock[name] for name in listed)
    assert requirements.check(fn, root=root) == []


def test_a_missing_import_is_caught(project):
    root, fn, path = project
    (root / "functions" / "probe" / "handler.py").write_text("import pyotp\nimport yaml\nimport requests\n")
    assert any("misses pyotp==" in p for p in requirements.check(fn, root=root))
    (root / "functions" / "probe" / "handler.py").write_text("import not_a_locked_module\n")
    with pytest.raises(requirements.LockError, match="not_a_locked_module"):
        requirements.check(fn, root=root)


def test_a_pin_or_hash_other_than_the_lock_is_caught(project):
    root, fn, path = project
    text = path.read_text()
    lock = requirements.load(root / "requirements.lock")
    requests_pin = lock["requests"]
    path.write_text(text.replace(f"requests=={requests_pin.version}", "requests==2.0.0"))
    assert requirements.check(fn, root=root) == [
        f"probe: requirements.txt pins requests==2.0.0, requirements.lock has {requests_pin.version}"
    ]
    path.write_text(text.replace(requests_pin.hashes[0], "sha256:" + "0" * 64))
    assert requirements.check(fn, root=root) == [
        "probe: requirements.txt has other hashes for requests than requirements.lock"
    ]


def test_an_unused_or_unlocked_entry_is_caught(project):
    root, fn, path = project
    lock = requirements.load(root / "requirements.lock")
    path.write_text(path.read_text() + lock["pyotp"].render())
    assert requirements.check(fn, root=root) == ["probe: requirements.txt lists pyotp, which its code does not need"]
    path.write_text(path.read_text() + "flask>=3\n")
    assert "not an exact pin" in requirements.check(fn, root=root)[0]
