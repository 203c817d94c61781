"""What several browser journeys do: log in through the page, check accessibility."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import Mailbox, extract_link

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def login_through_page(page: Page, stack, email: str, offset_steps: int = 0, start: str = "/connexion/") -> None:
    """Fill the login form, read the e-mailed link from the sink, open it."""
    if start is not None:
        page.goto(start)
    before = stack.mail.count()
    page.get_by_label("Votre adresse e-mail").fill(email)
    page.get_by_label("Entrez le code à 6 chiffres").fill(stack.otp(email, offset_steps))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    message = stack.mail.wait_for(email, "connexion", after=before)
    page.goto(extract_link(Mailbox.text(message), "/api/login/"))


_AXE_SOURCE: list[str] = []


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
    bad = [v for v in result if v["impact"] in impacts]
    assert not bad, f"axe violations on {page.url}:\n" + "\n".join(
        f"- [{v['impact']}] {v['id']}: {v['help']} → {v['nodes']}" for v in bad)
    return result
