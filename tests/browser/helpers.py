"""What several browser journeys do: a fresh aidant in a fresh structure, log in
through the page, mandates written straight to the store, accessibility checks."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.conftest import Mailbox, extract_link

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
INTERVAL = 30  # app devices (shared.otp.APP_INTERVAL)

ANGELA = {
    "given_name": "Angela Claire Louise",
    "family_name": "DUBOIS",
    "birthdate": "1962-08-24",
    "gender": "female",
    "birthplace": "75107",
    "birthcountry": "99100",
    "email": "angela.dubois@example.fr",
}


@dataclass
class Aidant:
    """A fresh aidant alone in a fresh structure, so lists only show this test's data.

    A TOTP time step is accepted once per device (docs/architecture.md §8): rather than wait for
    the next step, the aidant gets one more device whenever both steps the server
    accepts now (current and next) are used on every device it has."""

    stack: object
    email: str
    id: str
    structure_id: str
    first_name: str
    secrets: list[str] = field(default_factory=list)
    last_steps: list[int] = field(default_factory=list)

    def code(self) -> str:
        now_step = int(time.time() // INTERVAL)
        for i, secret in enumerate(self.secrets):
            for step in (now_step, now_step + 1):
                if step > self.last_steps[i]:
                    self.last_steps[i] = step
                    return pyotp.TOTP(secret, interval=INTERVAL).at(step * INTERVAL)
        self.add_device()
        return self.code()

    def add_device(self) -> None:
        self.stack.use_store()
        from shared import otp

        device, secret = otp.new_device(self.id, "app")
        device.save()
        self.secrets.append(secret)
        self.last_steps.append(0)


def new_aidant(
    stack, first_name: str = "Camille", referent: bool = False, structure_name: str = "France Services de test"
) -> Aidant:
    structure_id = stack.new_structure(structure_name)
    email = stack.new_aidant(structure_id, first_name=first_name, referent_of=[structure_id] if referent else [])
    stack.use_store()
    from shared import accounts, crypto, otp

    aidant = accounts.find_aidant_by_email(email)
    _, devices = otp.devices_of(aidant.id)
    seeds = [crypto.unseal(d.sealed_secret, d.sk) for d in devices]
    return Aidant(stack, email, aidant.id, structure_id, first_name, seeds, [0] * len(seeds))


def new_mandate(
    stack, aidant: Aidant, demarches=("papiers", "argent"), identity: dict | None = None, duration: str = "long"
) -> tuple[str, str]:
    """A usager and a signed mandate for the aidant's structure; (usager id, mandate id)."""
    stack.use_store()
    from shared import mandates

    usager = mandates.upsert_usager("fc-" + secrets.token_hex(8), identity or ANGELA)
    mandate = mandates.create(
        mandates.NewMandate(
            structure_id=aidant.structure_id,
            usager=usager,
            demarches=list(demarches),
            duration=duration,
            is_remote=False,
            remote_consent=None,
            aidant_id=aidant.id,
            aidant_name="Camille Test",
            text_snapshot="",
        )
    )
    return usager.id, mandate.id


def login_through_page(page: Page, stack, who, offset_steps: int = 0, start: str | None = "/connexion/") -> None:
    """Fill the login form, read the e-mailed link from the sink, open it.
    ``who`` is an e-mail (code from stack.otp) or an Aidant (code from its devices)."""
    if start is not None:
        page.goto(start)
    email = who if isinstance(who, str) else who.email
    code = stack.otp(who, offset_steps) if isinstance(who, str) else who.code()
    before = stack.mail.count()
    page.get_by_label("Votre adresse e-mail").fill(email)
    page.get_by_label("Entrez le code à 6 chiffres").fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    message = stack.mail.wait_for(email, "connexion", after=before)
    page.goto(extract_link(Mailbox.text(message), "/api/login/"))


_AXE_SOURCE: list[str] = []
AXE_LOG: list[dict] = []  # every page checked and what axe said, written out by conftest


def _axe_source() -> str:
    if not _AXE_SOURCE:
        _AXE_SOURCE.append(AXE.read_text() + "\n;void 0;")
    return _AXE_SOURCE[0]


def assert_accessible(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe-core on the page as it is now; fail on serious or critical violations.
    Returns every violation (minor and moderate ones included) for the report."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # add_script_tag() would be an inline <script>, which our CSP (rightly)
        # refuses; evaluating through the DevTools protocol is not subject to it, so
        # the pages are checked with their real CSP on.
        page.evaluate(_axe_source())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    AXE_LOG.append({"url": page.url, "title": page.title(), "violations": result})
    bad = [v for v in result if v["impact"] in impacts]
    assert not bad, f"axe violations on {page.url}:\n" + "\n".join(
        f"- [{v['impact']}] {v['id']}: {v['help']} → {v['nodes']}" for v in bad
    )
    return result
