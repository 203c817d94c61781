"""Each function runs from its build context alone, as its image would.

For every function in stack.yml: make the build context as faas-cli does (template +
handler + shared/), lay it out as the image's /home/app, install the template's and
the function's requirements into a fresh virtualenv (nothing else: no system site
packages, not the repo), start ``python index.py`` (Flask + waitress calling
``handle(event, context)``) with the function's stack.yml environment, only the
secrets it declares, and a moto DynamoDB server, then call every route over HTTP.

This proves that ``shared`` imports from the build context, that the function's
requirements.txt is enough, and that its declared secrets are the ones it reads.
The wheels are downloaded once for all functions, then the virtualenvs are built
from them, one per distinct set of requirement files (two at a time, on tmpfs when
there is one); ``DEPLOY_FUNCTIONS=a,b`` limits the run to some functions.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import pytest
import requests

from deploy import context, requirements, secrets
from local import dynamodb, stack

ROOT = stack.ROOT
PRODUCTION = stack.functions()
# The training sandbox's own functions (stack.sandbox.yml: PROFILE=sandbox, their
# stand-ins copied from local/): built from that stack file, run with its environment.
SANDBOX_ONLY = {name: fn for name, fn in stack.functions(stack.SANDBOX_STACK).items() if name not in PRODUCTION}
FUNCTIONS = {**PRODUCTION, **SANDBOX_ONLY}
SELECTED = [n for n in os.environ.get("DEPLOY_FUNCTIONS", "").split(",") if n] or sorted(FUNCTIONS)
STAND_INS = ("/franceconnect/", "/demo")  # fake third parties: HTML pages, JWTs, redirects
pytestmark = pytest.mark.timeout(1200)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra) -> dict[str, str]:
    """No PYTHONPATH, no virtualenv of ours, no AWS settings leaking in."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR") or k.startswith("PIP_")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT / ".venv"))
    )
    env.update(extra)
    return env


def _pip(*args: str) -> None:
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        env=_clean_env(HOME=os.environ.get("HOME", "/root")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, f"pip {' '.join(args)}\n{pip.stdout}\n{pip.stderr}"


def _requirement_files(name: str) -> list[Path]:
    fn = FUNCTIONS[name]
    return [context.TEMPLATES / fn.spec["lang"] / "requirements.txt", ROOT / fn.spec["handler"] / "requirements.txt"]


def _wheelhouse(folder: Path) -> Path:
    """Every selected function's requirements, downloaded once (pip resolves them
    from the machine's package index); each install below then resolves its own
    requirement files against these wheels only. The functions' files come from one
    lock, so their union is one consistent hashed file."""
    template = sorted({str(_requirement_files(name)[0]) for name in SELECTED})
    _pip("download", "-q", "-d", str(folder), *[a for f in template for a in ("-r", f)])
    pins: dict[str, requirements.Pin] = {}
    for name in SELECTED:
        pins.update(requirements.parse(_requirement_files(name)[1].read_text()))
    union = folder.parent / "functions-requirements.txt"
    union.write_text("".join(pin.render() for _, pin in sorted(pins.items())))
    _pip("download", "-q", "--require-hashes", "-d", str(folder), "-r", str(union))
    return folder


def _requirement_set(name: str) -> tuple[str, ...]:
    """What a virtualenv for ``name`` holds: its two requirement files, as they are."""
    return tuple(path.read_text() for path in _requirement_files(name))


def _install(requirement_set: tuple[str, ...], env_dir: Path, wheels: Path) -> Path:
    """A fresh virtualenv (no site packages) with exactly these requirements: the
    image's two `pip install -r`, the template's then the function's (hashes: pip
    checks every wheel against the lock's), run by the repo's pip into the new
    interpreter (--python) to spare bootstrapping pip in each one."""
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    for i, text in enumerate(requirement_set):
        listing = env_dir / f"requirements-{i}.txt"
        listing.write_text(text)
        _pip(
            "--python",
            str(python),
            "install",
            "-q",
            "--no-compile",
            "--no-index",
            "--find-links",
            str(wheels),
            "-r",
            str(listing),
        )
    return python


def _scratch() -> str | None:
    """tmpfs when there is one: a virtualenv is thousands of small files."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="module")
def installed():
    """name -> (home, python): each selected function's build context laid out as
    its image's /home/app, and a fresh virtualenv holding exactly its requirements
    (functions whose requirement files say the same share one, two built at a time)."""
    with tempfile.TemporaryDirectory(prefix="deploy-images-", dir=_scratch()) as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        wheels = _wheelhouse(base / "wheels")
        download = time.perf_counter() - started
        groups: dict[tuple[str, ...], list[str]] = {}
        for name in SELECTED:
            groups.setdefault(_requirement_set(name), []).append(name)
        pythons = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                pool.submit(_install, requirement_set, base / f"venv{i}", wheels): requirement_set
                for i, requirement_set in enumerate(groups)
            }
            for future in concurrent.futures.as_completed(futures):
                pythons[futures[future]] = future.result()
        results = {}
        for requirement_set, names in groups.items():
            for name in names:
                stack_file = stack.SANDBOX_STACK if name in SANDBOX_ONLY else None
                home = context.assemble(
                    context.build_context(name, base / name / "context", stack_file), base / name / "home"
                )
                results[name] = (home, pythons[requirement_set])
        print(
            f"\nwheels in {download:.1f}s; {len(groups)} fresh virtualenvs for {len(SELECTED)} functions "
            f"and their build contexts in {time.perf_counter() - started - download:.1f}s"
        )
        yield results


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A moto DynamoDB server with the table made by `python -m deploy table --create`."""
    logs = tmp_path_factory.mktemp("store")
    port = _free_port()
    process = dynamodb.start("moto", port, logs / "moto.log")
    endpoint = f"http://127.0.0.1:{port}"
    for table_name in sorted({FUNCTIONS[name].environment.get("TABLE_NAME", "aidants-connect") for name in SELECTED}):
        subprocess.run(
            [sys.executable, "-m", "deploy", "table", "--create", "--endpoint", endpoint, "--table-name", table_name],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "eu-west-3",
            },
        )
    yield endpoint
    process.terminate()
    process.wait(10)


def _secrets_dir(fn: stack.Function, folder: Path) -> Path:
    """Only the secrets the function declares, made as `deploy secrets` documents."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in fn.spec.get("secrets") or []:
        known = secrets.KNOWN.get(name)
        value = secrets.generate(name) if known and known.generate else "third-party-value-" + os.urandom(8).hex()
        (folder / name).write_text(value)
    return folder


class Running:
    def __init__(self, fn: stack.Function, home: Path, python: Path, store: str, workdir: Path):
        self.fn = fn
        self.port = _free_port()
        closed = _free_port()  # nothing listens there: no mail, no FranceConnect, no gateway
        env = _clean_env(HOME=str(workdir))
        env.update(context.image_environment(fn, home))
        env.update(
            {
                "HOSTNAME": fn.name,
                "INDEX_HOST": "127.0.0.1",
                "INDEX_PORT": str(self.port),
                "DYNAMODB_HOST": store,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "SECRETS_DIR": str(_secrets_dir(fn, workdir / "secrets")),
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(closed),
                "GATEWAY_URL": f"http://127.0.0.1:{closed}",
                "FRANCECONNECT_URL": f"http://127.0.0.1:{closed}/franceconnect",
                # The sandbox's stand-ins must be its own (shared/config.py): its issuer is
                # the closed port too, so the demo site reaches nobody either.
                **(
                    {"ISSUER": f"http://127.0.0.1:{closed}", "FRONTEND_URL": f"http://127.0.0.1:{closed}"}
                    if fn.environment.get("PROFILE") == "sandbox"
                    else {}
                ),
                # Diagnostics on: X-Store-Calls proves an answer went through shared.http.
                "EXPOSE_DIAGNOSTICS": "true",
            }
        )
        self.env = env
        self.log = workdir / "function.log"
        with open(self.log, "wb") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [str(python), "index.py"], cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"{fn.name} exited:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError as err:
                if time.time() > deadline:
                    raise AssertionError(f"{fn.name} did not start:\n{self.log.read_text()}") from err
                time.sleep(0.1)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(10)
        return self.log.read_text(errors="replace")


@pytest.fixture
def running(installed, store, tmp_path):
    started = []

    def start(name: str) -> Running:
        home, python = installed[name]
        run = Running(FUNCTIONS[name], home, python, store, tmp_path)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.stop()


def _probes(fn: stack.Function) -> list[tuple[str, str]]:
    if not fn.routes:  # reached by the gateway only (async, cron): its root
        return [("POST", "/")]
    return [(method, re.sub(r"\{\w+\}", "probe0123", route.path)) for route in fn.routes for method in route.methods]


def _check_answer(fn: stack.Function, method: str, path: str, resp: requests.Response) -> None:
    where = f"{fn.name}: {method} {path} -> {resp.status_code} {resp.text[:300]}"
    stand_in = path.startswith(STAND_INS)
    # The demo site says so when our identity provider cannot be reached (it is not, here).
    assert resp.status_code < 500 or (stand_in and resp.status_code == 502), where
    assert "X-Store-Calls" in resp.headers, f"{where}: not answered through shared.http"
    if resp.status_code >= 400 and not stand_in:
        body = resp.json()
        assert isinstance(body.get("error"), str) and body.get("error_description"), where


@pytest.mark.parametrize("name", SELECTED)
def test_function_answers_every_route_from_its_build_context(name, running):
    fn = FUNCTIONS[name]
    run = running(name)
    for method, path in _probes(fn):
        # A malformed body on writes: every function must answer it with a 4xx, never a 500.
        body = b"{not json" if method in ("POST", "PUT", "PATCH") else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"} if body else {}
        resp = requests.request(method, run.url + path, data=body, headers=headers, allow_redirects=False, timeout=20)
        _check_answer(fn, method, path, resp)
    log = run.stop()
    assert "Traceback" not in log, log
    assert "ModuleNotFoundError" not in log, log


def test_metadata_is_served_from_the_build_context(running):
    name = next(
        (n for n, fn in FUNCTIONS.items() if any(r.path == "/.well-known/openid-configuration" for r in fn.routes)),
        None,
    )
    if name is None or name not in SELECTED:
        pytest.skip("no discovery function selected")
    run = running(name)
    metadata = requests.get(run.url + "/.well-known/openid-configuration", timeout=10)
    assert metadata.status_code == 200
    assert metadata.json()["issuer"] == FUNCTIONS[name].environment["ISSUER"]
    jwks_uri = metadata.json()["jwks_uri"]
    jwks = requests.get(run.url + "/" + jwks_uri.split("/", 3)[3], timeout=10).json()
    assert jwks["keys"] and all("d" not in key for key in jwks["keys"])


def test_login_refuses_a_malformed_body_from_the_build_context(running):
    name = next(
        (n for n, fn in FUNCTIONS.items() if any(r.path == "/api/login" and "POST" in r.methods for r in fn.routes)),
        None,
    )
    if name is None or name not in SELECTED:
        pytest.skip("no login function selected")
    run = running(name)
    resp = requests.post(
        run.url + "/api/login", data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    resp = requests.post(run.url + "/api/login", json={"email": "nobody@example.org", "otp": "000000"}, timeout=10)
    assert 400 <= resp.status_code < 500 and resp.headers["X-Store-Calls"] != "0"


def test_the_image_runs_the_locked_flask_and_waitress(installed):
    """The template installs flask and waitress unpinned (and tox 3); the function's
    requirements.txt, installed after it, brings the lock's versions back."""
    lock = requirements.load()
    for name, (_home, python) in installed.items():
        versions = subprocess.run(
            [
                str(python),
                "-c",
                "from importlib import metadata as m; print(m.version('flask'), m.version('waitress'))",
            ],
            env=_clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert versions == [lock["flask"].version, lock["waitress"].version], name


def test_the_entry_point_behaves_as_the_template(installed, tmp_path):
    """Body and header shaping of index.py (docs/architecture.md §8), on a throwaway handler."""
    home, python = installed[SELECTED[0]]
    app = tmp_path / "app"
    (app / "function").mkdir(parents=True)
    (app / "index.py").write_bytes((home / "index.py").read_bytes())
    (app / "function" / "__init__.py").touch()
    (app / "function" / "handler.py").write_text(
        "def handle(event, context):\n"
        "    kind = event.query.get('kind')\n"
        "    if kind == 'dict':\n"
        "        return {'statusCode': 201, 'body': {'path': event.path, 'n': len(event.body)},\n"
        "                'headers': [('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2')]}\n"
        "    if kind == 'text':\n"
        "        return {'body': 'ok', 'headers': [('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2')]}\n"
        "    if kind == 'bytes':\n"
        "        return {'body': b'raw'}\n"
        "    if kind == 'none':\n"
        "        return None\n"
        "    return {'statusCode': 418, 'body': 'text', 'headers': {'X-Header': event.headers.get('x-in')}}\n"
    )
    port = _free_port()
    process = subprocess.Popen(
        [str(python), "index.py"],
        cwd=app,
        env=_clean_env(INDEX_HOST="127.0.0.1", INDEX_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(url + "/?kind=none", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        resp = requests.post(url + "/some/path?kind=dict", data=b"12345", timeout=5)
        assert resp.status_code == 201 and resp.json() == {"path": "/some/path", "n": 5}
        # Flask merges the headers into jsonify's response: repeated names keep the last
        # one. This is why shared.http encodes JSON itself and sends a string body.
        assert resp.raw.headers.getlist("Set-Cookie") == ["b=2"]
        text = requests.get(url + "/?kind=text", timeout=5)
        assert text.text == "ok" and text.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
        assert requests.get(url + "/?kind=bytes", timeout=5).text == "b'raw'"
        none = requests.get(url + "/?kind=none", timeout=5)
        assert none.status_code == 200 and none.text == ""
        text = requests.get(url + "/", headers={"X-In": "case"}, timeout=5)
        assert text.status_code == 418 and text.text == "text" and text.headers["X-Header"] == "case"
        assert requests.options(url + "/", timeout=5).status_code == 200  # Flask's own answer
    finally:
        process.terminate()
        process.wait(10)
