"""An aidant logs in from the browser: e-mail + code, link by e-mail, Espace Aidant."""

import re

from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page


def test_aidant_logs_in_through_the_page_and_lands_on_the_espace_aidant(page, stack, snap):
    email = stack.new_aidant(first_name="Josiane")
    page.goto("/connexion/")
    expect(page).to_have_title(re.compile("Connexion"))
    assert_accessible(page)
    snap("connexion")
    login_through_page(page, stack, email, start=None)
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur votre Espace Aidant, Josiane")
    assert_accessible(page)


def test_an_address_naming_two_mailboxes_is_refused_next_to_the_field(page, stack):
    page.goto("/connexion/")
    email = page.get_by_label("Votre adresse e-mail")
    email.fill("camille,victim@example.org")  # one "@": past the page's own check
    page.get_by_label("Entrez le code à 6 chiffres").fill("123456")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#groupe-email")).to_contain_text("une seule adresse e-mail valide")
    expect(email).to_be_focused()
    expect(email).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
