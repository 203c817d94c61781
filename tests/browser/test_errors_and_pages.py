"""Errors as people understand them, and the pages around the journeys: login
mistakes, expired links and sessions (back where the aidant was), network and server
failures, logout, 404, keyboard access, and axe on every static page."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant
from tests.conftest import Mailbox, extract_link


def test_login_mistakes_are_explained_next_to_the_fields_and_by_the_server(page, stack, snap):
    aidant = new_aidant(stack)
    page.goto("/connexion/")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#groupe-email")).to_contain_text("Merci d'indiquer votre adresse e-mail.")
    expect(page.locator("#groupe-otp")).to_contain_text("Le code doit contenir exactement 6 chiffres.")
    expect(page.get_by_label("Votre adresse e-mail")).to_be_focused()
    expect(page.get_by_label("Votre adresse e-mail")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    page.get_by_label("Votre adresse e-mail").fill("pas-une-adresse")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#groupe-email")).to_contain_text("Cette adresse e-mail n'est pas valide.")

    page.get_by_label("Votre adresse e-mail").fill(aidant.email)
    page.get_by_label("Entrez le code à 6 chiffres").fill("000000")
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("alert")).to_contain_text("L'adresse e-mail ou le code à 6 chiffres est incorrect.")
    expect(page.get_by_label("Entrez le code à 6 chiffres")).to_have_value("")
    snap("code-faux")


def test_a_used_login_link_sends_back_to_the_login_page_with_an_explanation(page, stack):
    aidant = new_aidant(stack)
    page.goto("/connexion/")
    before = stack.mail.count()
    page.get_by_label("Votre adresse e-mail").fill(aidant.email)
    page.get_by_label("Entrez le code à 6 chiffres").fill(aidant.code())
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte mail")
    expect(page.locator("main")).to_contain_text(f"Un lien de connexion vient de vous être envoyé à {aidant.email}.")
    assert_accessible(page)
    link = extract_link(Mailbox.text(stack.mail.wait_for(aidant.email, "connexion", after=before)), "/api/login/")
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/connexion/\?erreur=expired"))
    expect(page.get_by_role("alert")).to_contain_text("Ce lien de connexion a expiré ou a déjà été utilisé.")


def test_without_a_session_the_aidant_logs_in_and_comes_back_where_they_were(page, context, stack, snap):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    context.clear_cookies()
    page.goto("/mandats/detail/?id=abc")
    expect(page).to_have_url(re.compile(r"/connexion/\?next=%2Fmandats%2Fdetail%2F%3Fid%3Dabc&erreur=unauthorized"))
    expect(page.get_by_role("status")).to_contain_text("Connectez-vous pour accéder à cette page")
    snap("connexion-requise")
    login_through_page(page, stack, aidant, start=None)
    expect(page).to_have_url(re.compile(r"/mandats/detail/\?id=abc$"))


def test_an_expired_session_says_so(page, context, stack):
    context.add_cookies([{"name": "ac_session", "value": "x" * 43, "url": stack.url}])
    page.goto("/mandats/")
    expect(page).to_have_url(re.compile(r"/connexion/\?next=%2Fmandats%2F&erreur=session_expired"))
    expect(page.get_by_role("alert")).to_contain_text("Votre session a expiré. Merci de vous reconnecter")


def test_network_and_server_failures_are_explained(page, stack, snap):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.route("**/api/usagers*", lambda route: route.abort("internetdisconnected"))
    page.goto("/mandats/")
    expect(page.get_by_role("alert")).to_contain_text(
        "Impossible de joindre Aidants Connect. Vérifiez votre connexion à Internet, puis réessayez."
    )
    snap("reseau")
    page.unroute("**/api/usagers*")
    page.route("**/api/usagers*", lambda route: route.fulfill(status=502, body="<html>Bad gateway</html>"))
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Le service rencontre un problème momentané.")
    page.unroute("**/api/usagers*")
    page.route(
        "**/api/usagers*",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps(
                {
                    "error": "temporarily_unavailable",
                    "error_description": "La fonction redémarre. Réessayez dans quelques instants.",
                }
            ),
        ),
    )
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("La fonction redémarre. Réessayez dans quelques instants.")


def test_logout_ends_the_session(page, stack):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.get_by_role("button", name="Se déconnecter").first.click()
    expect(page).to_have_url(re.compile(r"/connexion/\?deconnecte=1"))
    expect(page.get_by_role("status")).to_contain_text("Vous êtes déconnecté")
    page.goto("/espace-aidant/")
    expect(page).to_have_url(re.compile(r"/connexion/\?next=%2Fespace-aidant%2F"))


def test_home_goes_to_the_login_page_or_the_espace_aidant(page, stack):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/connexion/$"))
    aidant = new_aidant(stack, referent=True, first_name="Mario")
    login_through_page(page, stack, aidant)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    # A référent also sees the way to the Espace Responsable.
    expect(page.get_by_role("link", name="Mon espace responsable")).to_be_visible()


def test_unknown_address_shows_the_404_page(page):
    response = page.goto("/cette-page-n-existe-pas/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    expect(page).to_have_title("Page introuvable - Aidants Connect")
    assert_accessible(page)


@pytest.mark.parametrize(
    "path, heading",
    [
        ("/connexion/", "Connectez-vous"),
        ("/connexion/verifiez-vos-mails/", "Vérifiez votre boîte mail"),
        ("/ressources/", "Ressources : j'ai besoin d'aide"),
        ("/accessibilite/", "Déclaration d'accessibilité"),
    ],
)
def test_public_pages_are_accessible_in_french(page, path, heading):
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page).to_have_title(re.compile(r".+ - Aidants Connect$"))
    assert_accessible(page)


def test_keyboard_users_skip_to_the_content(page):
    page.goto("/connexion/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Contenu")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#contenu$"))
    expect(page.locator("main")).to_be_focused()
    # Then the form is reachable and usable with the keyboard alone.
    page.get_by_label("Votre adresse e-mail").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Entrez le code à 6 chiffres")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Valider")).to_be_focused()


def test_on_a_small_screen_the_menu_opens_and_logs_out(page, stack, snap):
    page.set_viewport_size({"width": 375, "height": 740})
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bienvenue sur votre Espace Aidant")
    assert_accessible(page)
    page.get_by_role("button", name="Menu").click()
    menu = page.locator("#menu-principal")
    expect(menu.get_by_role("link", name="Mes mandats")).to_be_visible()
    snap("menu")
    # DSFR copies the header's tools into the menu: the copied button still works.
    menu.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(r"/connexion/\?deconnecte=1"))
