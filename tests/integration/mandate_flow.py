"""Helpers for the mandate tests: an aidant that can confirm as many actions as a
test needs, and the FranceConnect round trip a browser makes.

Each TOTP time step is accepted once per device (docs/architecture.md §8). Rather than sleep
until the next step, an aidant gets one more TOTP device (written in the store)
whenever its devices have used both steps the server accepts right now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests

INTERVAL = 30  # app devices (shared.otp.APP_INTERVAL)


@dataclass
class Device:
    secret: str
    last_step: int = 0


@dataclass
class Aidant:
    stack: object
    email: str
    id: str
    structure_id: str
    session: requests.Session
    devices: list[Device] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.stack.url

    def code(self) -> str:
        """A code the server accepts now and nobody used yet."""
        now_step = int(time.time() // INTERVAL)
        for device in self.devices:
            for step in (now_step, now_step + 1):
                if step > device.last_step:
                    device.last_step = step
                    return pyotp.TOTP(device.secret, interval=INTERVAL).at(step * INTERVAL)
        self.add_device()
        return self.code()

    def code_of_new_device(self) -> str:
        """A code of a device of its own: codes from distinct devices never cancel
        each other out, whatever order concurrent requests arrive in."""
        device = self.add_device()
        device.last_step = int(time.time() // INTERVAL)
        return pyotp.TOTP(device.secret, interval=INTERVAL).at(device.last_step * INTERVAL)

    def add_device(self) -> Device:
        self.stack.use_store()
        from shared import otp

        device, secret = otp.new_device(self.id, "app")
        device.save()
        self.devices.append(Device(secret))
        return self.devices[-1]

    # -- HTTP shortcuts ---------------------------------------------------------------
    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        if body is None:
            # Declared JSON even without a body, as the front-end does (shared.http).
            kwargs.setdefault("headers", {"Content-Type": "application/json"})
        return self.session.post(self.url + path, json=body, **kwargs)

    def new_draft(self, demarches=("papiers",), duration="long", remote=False, consent=None) -> dict:
        body = {"demarches": list(demarches), "duration": duration, "is_remote": remote}
        if remote:
            body["remote_consent"] = consent or {"method": "sms", "reference": "SMS reçu le 3 mars à 10h12"}
        r = self.post("/api/mandates/drafts", body)
        assert r.status_code == 201, r.text
        return r.json()

    def identify(self, franceconnect_url: str, identity: str = "angela") -> str:
        """The usager logs in at the FranceConnect stand-in (``login_hint`` skips its
        page); returns where our callback sends the browser."""
        r = self.session.get(franceconnect_url + "&login_hint=" + identity, allow_redirects=False)
        assert r.status_code == 302, r.text
        return self.follow_callback(r.headers["Location"])

    def follow_callback(self, location: str) -> str:
        """Our callback, then (once the usager is identified) FranceConnect's logout,
        which sends the browser back to the recap: returns where the browser lands."""
        assert urlsplit(location).path == "/fc/callback", location
        r = self.session.get(location, allow_redirects=False)
        assert r.status_code == 302, r.text
        location = r.headers["Location"]
        if urlsplit(location).path == "/franceconnect/session/end":
            r = self.session.get(location, allow_redirects=False)
            assert r.status_code == 302, r.text
            location = r.headers["Location"]
        return location

    def sign(self, draft: str, remote: bool = False, **overrides) -> requests.Response:
        body = {"draft": draft, "otp": self.code(), "usager_informed": True}
        if remote:
            body["remote_consent_kept"] = True
        body.update(overrides)
        return self.post("/api/mandates", body)

    def create_mandate(self, demarches=("papiers",), duration="long", remote=False, identity="angela") -> str:
        draft = self.new_draft(demarches, duration, remote)
        location = self.identify(draft["franceconnect_url"], identity)
        assert "/mandats/recapitulatif/" in location and "error" not in location, location
        r = self.sign(draft["draft"], remote=remote)
        assert r.status_code == 201, r.text
        return r.json()["mandate"]

    def revoke(self, mandate_id: str, demarche: str | None = None) -> requests.Response:
        body = {"otp": self.code()}
        if demarche:
            body["demarche"] = demarche
        return self.post(f"/api/mandates/{mandate_id}/revoke", body)


def new_aidant(stack, structure_id: str | None = None) -> Aidant:
    """A fresh, logged-in aidant of a new structure (or of ``structure_id``)."""
    structure_id = structure_id or stack.new_structure("Maison France Services de Test")
    email = stack.new_aidant(structure_id)
    session = stack.login(requests.Session(), email)
    stack.use_store()
    from shared import accounts, crypto, otp

    aidant = accounts.find_aidant_by_email(email)
    _, devices = otp.devices_of(aidant.id)
    secret = crypto.unseal(devices[0].sealed_secret, devices[0].sk)
    # The step the login used, as the server recorded it.
    used = Device(secret, last_step=int(devices[0].last_step))
    return Aidant(stack, email, aidant.id, structure_id, session, [used])


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def landing(location: str) -> tuple[str, str | None, str | None]:
    """(page, draft, error) where the browser lands after FranceConnect: our callback
    names them in the query; FranceConnect's logout brings them back as
    ``state=<draft>[.<error>]``."""
    params = query_of(location)
    draft, error = params.get("draft"), params.get("error")
    if "state" in params:
        draft, _, error = params["state"].partition(".")
        error = error or None
    return urlsplit(location).path, draft, error
