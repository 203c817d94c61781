"""A trainee's whole session in the training sandbox, in Chromium: sign up → log in
with the virtual OTP card → create a mandate with Angela (FranceConnect stand-in) →
use it on the demo site → revoke → print, the inbox, the situations and the reset;
axe-core on every new page state. The sandbox stack is started here (`local up
--sandbox`); the production stack (the shared ``stack`` fixture) refuses it all."""

from __future__ import annotations

import os
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, _slug
from tests.browser.helpers import Aidant, assert_accessible
from tests.browser.test_mandate_creation import pick_identity, tick
from tests.conftest import Stack, _reset_shared_caches, stack_of_its_own

TRAINING = "Environnement de formation – données fictives"
TITLE_SUFFIX = " - Aidants Connect (bac à sable de formation, données fictives)"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with stack_of_its_own(tmp_path_factory.mktemp("sandbox-browser"), ["--sandbox"]) as running:
        yield Stack(running.url, running.state, running.env, running.process, running.seed())


@pytest.fixture
def trainee_page(browser, sandbox, request):
    """A fresh browser context on the sandbox; fails on a page error or a CSP breach,
    and keeps a screenshot of the last page. This process's environment is restored
    afterwards (an extra TOTP device is written through the sandbox's store)."""
    saved_env = dict(os.environ)
    context = browser.new_context(
        base_url=sandbox.url, locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
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
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{_slug(request.node.name)}.png"), full_page=True)
    except Exception:  # a closed page must not hide the test's own failure
        pass
    context.close()
    os.environ.clear()
    os.environ.update(saved_env)
    _reset_shared_caches()
    assert not problems, "\n".join(problems)


def snap(page, request, step):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{_slug(request.node.name)}--{_slug(step)}.png"), full_page=True)


def expect_training_notice(page):
    notice = page.get_by_role("region", name="Environnement de formation")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(TRAINING)
    assert page.title().endswith(TITLE_SUFFIX), page.title()


def sign_up(page, first: str, last: str, email: str) -> str:
    """The sign-up page, filled and sent; returns the TOTP key it shows."""
    page.goto("/bac-a-sable/")
    page.get_by_label("Prénom").fill(first)
    page.get_by_label("Nom", exact=True).fill(last)
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_role("button", name="Créer mon compte d'entraînement").click()
    expect(page.get_by_role("heading", name="Votre compte d'entraînement est prêt")).to_be_focused()
    return page.locator("#secret").inner_text().replace(" ", "")


def card_code(page) -> str:
    code = page.locator("#carte-code")
    expect(code).to_have_text(re.compile(r"^\d{6}$"))
    return code.inner_text()


def test_a_trainees_whole_session_sign_up_log_in_mandate_with_angela_demo_site_revoke_print(
    trainee_page, sandbox, request
):
    page = trainee_page
    email = f"camille.{int(time.time() * 1000)}@formation.example.fr"

    # Sign-up: a public page, which says where one is.
    page.goto("/bac-a-sable/")
    expect(page.get_by_role("heading", level=1)).to_have_text("S'inscrire au bac à sable Aidants Connect")
    expect_training_notice(page)
    assert_accessible(page)
    page.get_by_role("button", name="Créer mon compte d'entraînement").click()
    expect(page.locator("#groupe-prenom")).to_contain_text("Ce champ est obligatoire.")
    expect(page.get_by_label("Prénom")).to_be_focused()
    assert_accessible(page)
    secret = sign_up(page, "Camille", "Formation", email)
    expect(page.locator("#structure-nom")).to_have_text("Structure d'entraînement de Camille Formation")
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    card_code(page)
    assert_accessible(page)
    snap(page, request, "compte-pret")

    # The virtual card of this browser shows the code the server expects.
    page.goto("/bac-a-sable/carte/")
    expect(page.get_by_role("heading", level=2)).to_contain_text(email)
    expect_training_notice(page)
    code = card_code(page)
    step = int(time.time() // 30)  # the step this code belongs to (it is spent by the login)
    assert_accessible(page)
    snap(page, request, "carte")

    # Log in with that code: the session opens at once, no e-mail.
    page.get_by_role("link", name="Me connecter").click()
    expect(page.get_by_label("Votre adresse e-mail")).to_have_value(email)
    expect(page.locator("main")).to_contain_text("aucun e-mail n'est envoyé")
    assert_accessible(page)
    page.get_by_label("Entrez le code à 6 chiffres").fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur votre Espace Aidant, Camille")
    expect_training_notice(page)
    assert_accessible(page)
    me = page.request.get("/api/me").json()
    # The next codes: the same key (the phone application's), then, rather than wait
    # for the next step, another device (helpers.Aidant).
    trainee = Aidant(sandbox, email, me["aidant"]["id"], me["structure"]["id"], "Camille", [secret], [step])

    # The guide's situations, Angela first, with no mandate yet.
    page.get_by_role("link", name="Mes situations").first.click()
    situations = page.locator("#situations > li")
    expect(situations).to_have_count(6)
    angela = situations.filter(has_text="Angela Claire Louise DUBOIS")
    expect(angela).to_contain_text("Pas encore de mandat dans votre structure.")
    expect(situations.filter(has_text="Florence Anne GIRARD")).to_contain_text("Révoqué")
    assert_accessible(page)
    snap(page, request, "situations")

    # Create a mandate with Angela, who logs in at the (sandbox's) FranceConnect.
    page.goto("/mandats/nouveau/")
    page.get_by_role("checkbox", name="Transports - Mobilité").check()
    tick(page, "radio", "Mandat long")
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    expect(page.get_by_role("region", name=TRAINING)).to_be_visible()
    assert_accessible(page)
    pick_identity(page, "Angela Claire Louise DUBOIS")
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif du mandat")
    tick(page, "checkbox", re.compile("Avoir communiqué à Angela Claire Louise DUBOIS"))
    page.get_by_label("Entrez le code à 6 chiffres").fill(trainee.code())
    page.get_by_role("button", name="Enregistrer le mandat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Le mandat a été enregistré")
    mandate_id = page.url.split("id=")[1]
    expect_training_notice(page)

    # Use it on the demo government site: « Vous êtes un aidant professionnel ».
    page.goto("/demo/")
    expect(page.get_by_role("region", name=TRAINING)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="S'identifier avec FranceConnect").click()
    page.get_by_role("link", name="Vous êtes un aidant professionnel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sélectionnez l'utilisateur que vous souhaitez FranceConnecter"
    )
    expect_training_notice(page)
    page.get_by_role("button", name="Angela Claire Louise DUBOIS").click()
    page.get_by_role("button", name="Transports - Mobilité").click()
    expect(page).to_have_url(re.compile(r"/demo/callback\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Angela Claire Louise DUBOIS")
    expect(page.get_by_role("region", name=TRAINING)).to_be_visible()
    snap(page, request, "site-de-demonstration")

    # Revoke it with a code, then print the mandate and the attestation.
    page.goto(f"/mandats/detail/?id={mandate_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mandat de Angela Claire Louise DUBOIS")
    page.get_by_role("button", name="Révoquer le mandat").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Entrez le code à 6 chiffres").fill(trainee.code())
    dialog.get_by_role("button", name="Confirmer la révocation").click()
    expect(page.locator("#message")).to_contain_text("Le mandat a été révoqué.")
    for name in ("Imprimer le mandat", "Imprimer l'attestation de révocation"):
        printed = page.request.get(page.get_by_role("link", name=name).first.get_attribute("href"))
        assert printed.status == 200 and "DUBOIS" in printed.text(), name
    expect_training_notice(page)

    # No e-mail left the sandbox: the trainee reads them here.
    page.goto("/bac-a-sable/boite-mail/")
    expect_training_notice(page)
    mails = page.locator("#messages > li")
    deadline = time.time() + 20
    while not mails.filter(has_text="est révoqué").count() and time.time() < deadline:
        page.get_by_role("button", name="Actualiser").click()
        page.wait_for_timeout(500)
    expect(mails.filter(has_text="est révoqué")).to_contain_text("À angela.dubois@example.fr")
    expect(mails.filter(has_text="Une démarche a été effectuée pour vous")).to_have_count(1)
    assert_accessible(page)
    snap(page, request, "boite-mail")


def test_a_trainee_resets_the_sandbox_in_one_click(trainee_page, sandbox, request):
    page = trainee_page
    email = f"remi.{int(time.time() * 1000)}@formation.example.fr"
    sign_up(page, "Rémi", "Essai", email)
    code = card_code(page)
    page.goto("/connexion/?email=" + email)
    page.get_by_label("Entrez le code à 6 chiffres").fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    page.goto("/bac-a-sable/situations/")
    expect(page.locator("#compte")).to_contain_text("Structure d'entraînement de Rémi Essai")
    before = page.request.get("/api/sandbox/trainee").json()["structure"]["id"]
    page.get_by_role("button", name="Réinitialiser mon bac à sable").click()
    alert = page.get_by_role("status").filter(has_text="Bac à sable réinitialisé")
    expect(alert).to_contain_text("situations de départ")
    expect(alert.get_by_role("heading")).to_be_focused()
    expect(page.locator("#situations > li")).to_have_count(6)
    expect(page.locator("#compte")).to_contain_text("Structure d'entraînement de Rémi Essai")
    # The same name, a new structure behind it, and the session followed.
    assert page.request.get("/api/sandbox/trainee").json()["structure"]["id"] != before
    assert_accessible(page)
    snap(page, request, "reinitialise")


def test_the_card_page_without_a_card_says_what_to_do(trainee_page):
    page = trainee_page
    page.goto("/bac-a-sable/carte/")
    expect(page.get_by_role("heading", name="Aucune carte dans ce navigateur")).to_be_visible()
    expect_training_notice(page)
    assert_accessible(page)


def test_a_sandbox_request_against_the_production_profile_is_refused(page, stack):
    """The shared stack is production: no sandbox page, no sandbox route, no notice."""
    page.goto("/bac-a-sable/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    expect(page.get_by_text(TRAINING)).to_have_count(0)
    refused = page.request.post(
        "/api/sandbox/trainees",
        data={"email": "refus@example.fr", "first_name": "R", "last_name": "Efus"},
        headers={"Content-Type": "application/json"},
    )
    assert refused.status == 404 and refused.json()["error"] == "not_found"
    assert page.request.get("/api/sandbox").status == 404
    page.goto("/connexion/")
    expect(page.get_by_text(TRAINING)).to_have_count(0)
    assert "bac à sable" not in page.title()
