"""Browser fixtures: headless Debian Chromium driven by Playwright (sync API).

* ``browser``: one Chromium for the whole session (never ``playwright install``:
  the Debian package is the browser we test).
* ``page``: a fresh context per test (own cookies), ``base_url`` = the stack, French
  locale; a screenshot of the last page is saved to
  ``tests/artifacts/screenshots/<test>.png`` whatever the outcome, and the test fails
  if the page threw an uncaught error or broke the Content-Security-Policy.
* ``snap``: ``snap("recap")`` saves ``<test>--recap.png`` for the steps in between.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:150]


@pytest.fixture(scope="session", autouse=True)
def axe_report():
    """tests/artifacts/axe-report.json: every page axe checked, with all its findings
    (the tests fail on serious and critical ones; minor ones are listed here)."""
    yield
    from tests.browser.helpers import AXE_LOG

    if AXE_LOG:
        SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS.parent / "axe-report.json").write_text(json.dumps(AXE_LOG, indent=2, ensure_ascii=False))


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser, stack):
    context = browser.new_context(
        base_url=stack.url, locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context, request):
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    page.problems = problems
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(request.node.name)}.png"), full_page=True)
    except Exception:  # a closed page must not hide the test's own failure
        pass
    assert not problems, "\n".join(problems)


@pytest.fixture
def snap(page, request):
    def save(step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(request.node.name)}--{_slug(step)}.png"), full_page=True)

    return save
