"""The identity-provider pages: a government service (the local demo, playing
FranceConnect as our client) → /oidc/authorize → /fi/ → the aidant logs in, picks
the usager and the démarche → back to the service, logged in as the usager."""

import re

from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant, new_mandate
from tests.browser.test_mandates import PIERRE

CHOOSE_USAGER = "Sélectionnez l'utilisateur que vous souhaitez FranceConnecter"
CHOOSE_DEMARCHE = "Sélectionnez le type de démarche que vous allez effectuer"


def start_from_the_service(page):
    page.goto("/demo/")
    page.get_by_role("link", name="S'identifier avec FranceConnect").click()
    page.get_by_role("link", name="Vous êtes un aidant professionnel").click()


def test_franceconnect_to_aidant_to_usager_and_demarche_then_back_to_the_service(page, stack, snap):
    aidant = new_aidant(stack)
    new_mandate(stack, aidant, ("papiers", "argent"))
    new_mandate(stack, aidant, ("transports",), identity=PIERRE)

    # Not logged in yet: the login page explains why, then brings the aidant back.
    start_from_the_service(page)
    expect(page).to_have_url(re.compile(r"/connexion/\?next=%2Ffi%2F%3Ftxn%3D"))
    expect(page.get_by_role("status").or_(page.get_by_role("alert")).first).to_contain_text(
        "Un site de démarches en ligne demande une connexion avec Aidants Connect"
    )
    snap("connexion")
    login_through_page(page, stack, aidant, start=None)
    expect(page).to_have_url(re.compile(r"/fi/\?txn="))

    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE_USAGER)
    expect(
        page.get_by_text(
            "Seuls les usagers avec un mandat en cours auprès de France Services de test sont affichés ici."
        )
    ).to_be_visible()
    expect(page.get_by_text("Connexion demandée par : FranceConnect (démo locale)")).to_be_visible()
    expect(page.locator("#usagers button")).to_have_count(2)
    assert_accessible(page)
    snap("usagers")

    page.get_by_role("button", name="Angela Claire Louise DUBOIS").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE_DEMARCHE)
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    expect(page.locator("#demarches button")).to_have_count(2)  # only what the mandate covers
    expect(page.get_by_role("button", name="Transports - Mobilité")).to_have_count(0)
    assert_accessible(page)
    snap("demarches")

    # « Changer d'utilisateur », and the browser's back button, return to the list.
    page.get_by_role("button", name="Changer d'utilisateur").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE_USAGER)
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE_DEMARCHE)

    # Argent: a clear warning first; « Choisir une autre démarche » goes back.
    page.get_by_role("button", name="Argent - Impôts - Consommation").click()
    warning = page.get_by_role("dialog")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("informations financières de Angela Claire Louise DUBOIS")
    assert_accessible(page)
    snap("avertissement-argent")
    warning.get_by_role("button", name="Choisir une autre démarche").click()
    expect(warning).to_be_hidden()
    expect(page.get_by_role("button", name="Argent - Impôts - Consommation")).to_be_focused()

    page.get_by_role("button", name="Papiers - Citoyenneté - Élections").click()
    expect(page).to_have_url(re.compile(r"/demo/callback\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Angela Claire Louise DUBOIS")


def test_argent_after_confirming_the_warning_reaches_the_service(page, stack):
    aidant = new_aidant(stack)
    new_mandate(stack, aidant, ("argent",), identity=PIERRE)
    login_through_page(page, stack, aidant)
    page.goto("/demo/login")
    expect(page.get_by_role("heading", level=1)).to_have_text(CHOOSE_USAGER)
    page.get_by_role("button", name="Pierre MERCIER").click()
    page.get_by_role("button", name="Argent - Impôts - Consommation").click()
    page.get_by_role("dialog").get_by_role("button", name="Je confirme, continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Pierre MERCIER")


def test_no_usager_with_a_mandate_in_force_gets_a_clear_page(page, stack, snap):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.goto("/demo/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aucun usager à FranceConnecter")
    expect(page.locator("main")).to_contain_text("il se peut que vous n'ayez pas de mandat ou que le mandat a expiré")
    expect(page.get_by_role("link", name="Créer un mandat").last).to_be_visible()
    assert_accessible(page)


def test_unknown_or_used_transaction_says_to_start_again_from_the_service(page, stack):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.goto("/fi/?txn=inconnue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Demande de connexion terminée")
    expect(page.get_by_role("alert")).to_contain_text("Cette demande de connexion est introuvable.")
    expect(page.get_by_role("alert")).to_contain_text("Retournez sur le site de la démarche")


def test_a_transaction_opened_in_another_browser_is_refused_with_a_clear_message(page, stack):
    import requests

    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    # The demo service sends *another* browser to /oidc/authorize: it holds the cookie.
    other = requests.Session()
    to_authorize = other.get(stack.url + "/demo/login", allow_redirects=False, timeout=10).headers["Location"]
    to_fi = other.get(to_authorize, allow_redirects=False, timeout=10).headers["Location"]
    page.goto(to_fi)
    expect(page.get_by_role("alert")).to_contain_text("ouverte dans un autre navigateur")
    expect(page.get_by_role("alert")).to_contain_text("Recommencez depuis le site de la démarche")
    assert_accessible(page)
