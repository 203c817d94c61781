"""FranceConnect and the aidant's browser, as the load generator plays them.

One :class:`FlowClient` per client thread: a browser session (the aidant's cookie)
and a back-channel session (FranceConnect's server), both ``requests.Session`` with
kept-alive connections. The protocol is spelled out by hand (no OIDC library in the
loop) so that the generator spends as little CPU as it can: on a 2-core machine it
competes with the stack it measures. The integration tests drive the same flow
through Authlib's client and check every answer (tests/integration/test_oidc_flow.py).
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .stats import Recorder
from .world import BenchWorld

SCOPE = "openid profile birth email"
TIMEOUT = 15

# Step names, in flow order: the keys of every table and plot.
AUTHORIZE = "GET /oidc/authorize"
TXN_GET = "GET /api/fi/transactions/{txn}"
TXN_POST = "POST /api/fi/transactions/{txn}"
TOKEN = "POST /oidc/token"
USERINFO = "GET /oidc/userinfo"
DISCOVERY = "GET /.well-known/openid-configuration"
JWKS = "GET /oidc/jwks"
FLOW_STEPS = (AUTHORIZE, TXN_GET, TXN_POST, TOKEN, USERINFO)


class StepFailed(Exception):
    pass


def store_units(header: str | None) -> tuple[float, float] | None:
    """(read, write) capacity units from ``X-Store-Units: read=1.5;write=2;unmeasured=0``."""
    if not header:
        return None
    parts = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    return float(parts.get("read", 0)), float(parts.get("write", 0))


class FlowClient:
    def __init__(self, base: str, world: BenchWorld, recorder: Recorder, index: int = 0):
        self.base = base
        self.world = world
        self.recorder = recorder
        self.browser = requests.Session()
        self.browser.cookies.set("ac_session", world.cookies[index % len(world.cookies)])
        self.backchannel = requests.Session()
        self.random = random.Random(index)

    # -- one request, timed and recorded --------------------------------------------
    def _call(self, step: str, session: requests.Session, method: str, url: str, ok=(200,), **kwargs):
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            self.recorder.record(step, time.perf_counter() - started, 0, None, False)
            raise StepFailed(f"{step}: {exc}") from exc
        elapsed = time.perf_counter() - started
        calls = response.headers.get("X-Store-Calls")
        good = response.status_code in ok
        self.recorder.record(
            step,
            elapsed,
            response.status_code,
            int(calls) if calls else None,
            good,
            store_units(response.headers.get("X-Store-Units")),
        )
        if not good:
            raise StepFailed(f"{step}: {response.status_code} {response.text[:200]}")
        return response

    # -- the steps ------------------------------------------------------------------
    def authorize(self) -> tuple[str, str]:
        """FranceConnect sends the browser here; returns (txn, code_verifier)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        params = {
            "response_type": "code",
            "client_id": self.world.client_id,
            "redirect_uri": self.world.redirect_uri,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "acr_values": "eidas1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        r = self._call(AUTHORIZE, self.browser, "GET", f"{self.base}/oidc/authorize?{urlencode(params)}", ok=(302,))
        location = urlsplit(r.headers["Location"])
        return parse_qs(location.query)["txn"][0], verifier

    def offer(self, txn: str) -> dict:
        return self._call(TXN_GET, self.browser, "GET", f"{self.base}/api/fi/transactions/{txn}").json()

    def choose(self, txn: str) -> str:
        """The aidant's choice, with the mandate the offer gave (as the front-end
        sends it); returns the code."""
        usager, demarche = self.random.choice(self.world.usagers)
        body = {"usager": usager, "demarche": demarche}
        if getattr(self.world, "mandates", None):
            body["mandate"] = self.world.mandates[usager]
        r = self._call(TXN_POST, self.browser, "POST", f"{self.base}/api/fi/transactions/{txn}", json=body)
        return parse_qs(urlsplit(r.json()["redirect_to"]).query)["code"][0]

    def token(self, code: str, verifier: str) -> str:
        r = self._call(
            TOKEN,
            self.backchannel,
            "POST",
            f"{self.base}/oidc/token",
            auth=(self.world.client_id, self.world.client_secret),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.world.redirect_uri,
                "code_verifier": verifier,
            },
        )
        body = r.json()
        if "id_token" not in body:
            raise StepFailed("token: no id_token")
        return body["access_token"]

    def userinfo(self, access_token: str) -> dict:
        r = self._call(
            USERINFO,
            self.backchannel,
            "GET",
            f"{self.base}/oidc/userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return r.json()

    def discovery(self) -> None:
        self._call(DISCOVERY, self.backchannel, "GET", f"{self.base}/.well-known/openid-configuration")

    def jwks(self) -> None:
        self._call(JWKS, self.backchannel, "GET", f"{self.base}/oidc/jwks")

    def flow(self) -> bool:
        """authorize → GET txn → POST txn → token → userinfo; True when all succeeded."""
        try:
            txn, verifier = self.authorize()
            self.offer(txn)
            code = self.choose(txn)
            self.userinfo(self.token(code, verifier))
            return True
        except StepFailed:
            return False

    def close(self) -> None:
        self.browser.close()
        self.backchannel.close()
