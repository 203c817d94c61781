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
