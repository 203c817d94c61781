"""Fixtures shared by every test layer.

* ``moto_store``: the shared library against moto (unit tests, no server);
* ``stack``: the whole local stack, as ``make up`` runs it (DynamoDB Local, SMTP sink,
  gateway and function processes), on free ports and a temporary state folder, once
  per test session. Integration and browser tests talk to it over HTTP and may use
  the store directly for set-up (``stack.use_store()``).
"""

from __future__ import annotations

import base64
import email
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from email import policy
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _reset_shared_caches():
    from shared import config, crypto, store

    config.reset_caches()
    crypto.reset_caches()
    store.configure()


# What Stack.use_store() puts in this process's environment for integration tests.
STACK_ENVIRONMENT = (
    "DYNAMODB_HOST",
    "ISSUER",
    "FRONTEND_URL",
    "GATEWAY_URL",
    "FRANCECONNECT_URL",
    "FRANCECONNECT_CLIENT_ID",
    "LOGIN_LINK_ENABLED",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_STARTTLS",
    "SMTP_SSL",
    "SMTP_USER",
    "LOCAL_STATE_DIR",
    "LOCAL_SECRETS_DIR",
    "SECRETS_DIR",
    "TABLE_NAME",
    "EXPOSE_DIAGNOSTICS",
    "STORE_TIMEOUT_SECONDS",
    "PROFILE",
)


@contextmanager
def stack_of_its_own(state: Path, extra_args: list[str]):
    """A second stack (the sandbox's) started from this process's environment minus
    what a previous test module's stack put there (its TABLE_NAME, its issuer: the
    sandbox would rightly refuse a production table); the environment is given back
    afterwards."""
    from local import launcher

    saved_env = dict(os.environ)
    for name in STACK_ENVIRONMENT:
        os.environ.pop(name, None)
    running = launcher.start(state, extra_args)
    try:
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_shared_caches()


@pytest.fixture(autouse=True)
def _no_request_budget_left_over():
    """A budget is per thread (store/writes.py): one a test set, directly or through a
    handler, must not make a later test's writes look late."""
    from shared.store import writes

    writes.clear_budget()
    yield
    writes.clear_budget()


@pytest.fixture
def clean_environment(monkeypatch):
    """Unit tests start from the defaults, even after an integration test pointed this
    process at a stack."""
    for name in STACK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    _reset_config()
    yield
    _reset_config()


def _reset_config():
    from shared import config

    config.reset_caches()


@pytest.fixture
def moto_store(monkeypatch, clean_environment):
    """An empty table in moto, with local secrets, for one test."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.delenv("DYNAMODB_HOST", raising=False)
    monkeypatch.setenv("SECRETS_DIR", "/nonexistent")
    monkeypatch.delenv("LOCAL_SECRETS_DIR", raising=False)
    monkeypatch.setenv("SECRET_TOKEN_HMAC_KEY", base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv("SECRET_TOTP_SEAL_KEY", base64.b64encode(b"s" * 32).decode())
    with mock_aws():
        _reset_shared_caches()
        from shared import store

        store.create_table()
        yield store
    _reset_shared_caches()


class Mailbox:
    def __init__(self, folder: Path):
        self.folder = folder

    def messages(self) -> list[email.message.EmailMessage]:
        files = sorted(self.folder.glob("*.eml"))
        return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]

    def wait_for(self, to: str, subject_contains: str = "", after: int = 0, timeout: float = 15.0):
        """The first message to ``to`` whose index is >= ``after`` (see ``count``)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for message in self.messages()[after:]:
                if to.lower() in str(message["To"]).lower() and subject_contains in str(message["Subject"]):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no mail to {to} ({subject_contains!r}) within {timeout}s")

    def count(self) -> int:
        return len(list(self.folder.glob("*.eml")))

    @staticmethod
    def text(message) -> str:
        return message.get_body(("plain",)).get_content()


class Stack:
    def __init__(self, url: str, state: Path, env: dict, process: subprocess.Popen, seed: dict):
        self.url = url
        self.state = state
        self.env = env
        self.process = process
        self.seed = seed
        self.mail = Mailbox(state / "mail")

    def use_store(self):
        """Point this test process's ``shared`` at the stack's DynamoDB Local."""
        for key, value in self.env.items():
            os.environ[key] = value
        _reset_shared_caches()

    def new_structure(self, name: str = "Structure de test") -> str:
        self.use_store()
        from shared import accounts, crypto

        structure = accounts.create_structure(
            accounts.new_structure(
                name, "1" * 14, "1 rue de la Paix, 75002 Paris", structure_id="t-" + crypto.new_id(6)
            )
        )
        return structure.id

    def new_aidant(self, structure_id: str | None = None, **kwargs) -> str:
        """A fresh aidant (own TOTP device, so tests never share a time step) who has
        accepted the terms of use in force, as every working aidant has
        (``cgu_version=None``: one who has not, for the tests of that rule)."""
        self.use_store()
        from shared import accounts, cgu, crypto

        email_address = f"aidant-{crypto.new_id(6).lower()}@test.aidantsconnect.fr"
        kwargs.setdefault("cgu_version", cgu.current_version())
        accounts.create_aidant(
            email_address,
            kwargs.pop("first_name", "Test"),
            kwargs.pop("last_name", "Aidant"),
            [structure_id or self.seed["structure"]["id"]],
            **kwargs,
        )
        return email_address

    def otp(self, email_address: str, offset_steps: int = 0) -> str:
        """The aidant's TOTP code now (or ``offset_steps`` steps later: a fresh step
        without waiting, as docs/architecture.md §8 suggests)."""
        self.use_store()
        from shared import accounts, otp

        aidant = accounts.find_aidant_by_email(email_address)
        _, devices = otp.devices_of(aidant.id)
        totp = otp.totp_for(devices[0])
        return totp.at(time.time() + offset_steps * totp.interval)

    def log_events(self, function: str, event: str | None = None) -> list[dict]:
        """The JSON log lines of anonymous requests (``shared.anonymous``) that a
        function has written so far, optionally only one ``event``."""
        # "INFO:aidants_connect.anonymous:{…}" as shared/logs.py formats it (the
        # template's logging), or "… aidants_connect.anonymous: {…}" as a runner with
        # its own format writes it.
        marker = "aidants_connect.anonymous:"
        path = self.state / "logs" / f"{function}.log"
        found = []
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            if marker in line:
                data = json.loads(line.split(marker, 1)[1].strip())
                if event is None or data.get("event") == event:
                    found.append(data)
        return found

    def login(self, session: requests.Session, email_address: str, offset_steps: int = 0) -> requests.Session:
        """Log in exactly as a browser does: code, then the e-mailed link."""
        before = self.mail.count()
        r = session.post(
            self.url + "/api/login", json={"email": email_address, "otp": self.otp(email_address, offset_steps)}
        )
        assert r.status_code == 200, r.text
        message = self.mail.wait_for(email_address, "connexion", after=before)
        link = extract_link(Mailbox.text(message), "/api/login/")
        r = session.get(link, allow_redirects=False)
        assert r.status_code == 302, r.text
        return session


def extract_link(text: str, marker: str) -> str:
    for word in text.split():
        if marker in word:
            return word.strip()
    raise AssertionError(f"no link containing {marker} in:\n{text}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from local import launcher

    running = launcher.start(tmp_path_factory.mktemp("stack"))
    try:
        yield Stack(running.url, running.state, running.env, running.process, running.seed())
    finally:
        running.stop()
