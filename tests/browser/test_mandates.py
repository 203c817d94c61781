"""Mes mandats: the structure's usagers and mandates, search, detail, renew, revoke
one démarche or all (dialog + TOTP), print the mandate and the revocation attestation."""

import re

from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant, new_mandate

PIERRE = {
    "given_name": "Pierre",
    "family_name": "MERCIER",
    "birthdate": "1969-03-17",
    "gender": "male",
    "birthplace": "02691",
    "birthcountry": "99100",
    "email": "pierre.mercier@example.fr",
}
ELOISE = {
    "given_name": "Éloïse Marie-Thérèse",
    "family_name": "LEFÈVRE-N'DIAYE",
    "birthdate": "1948-02-29",
    "gender": "female",
    "birthplace": "02408",
    "birthcountry": "99100",
    "email": "eloise@example.fr",
}


def revoke_in_store(stack, aidant, mandate_id, demarche=None):
    stack.use_store()
    from shared import revocation

    revocation.revoke(aidant.structure_id, aidant.id, mandate_id, aidant.code(), demarche=demarche)


def test_mes_mandats_lists_usagers_with_their_mandates_and_finds_them_by_name(page, stack, snap):
    aidant = new_aidant(stack)
    new_mandate(stack, aidant, ("papiers", "transports"))
    _, revoked = new_mandate(stack, aidant, ("social",), identity=PIERRE)
    revoke_in_store(stack, aidant, revoked)
    new_mandate(stack, aidant, ("logement",), identity=ELOISE)
    login_through_page(page, stack, aidant)

    page.get_by_role("link", name="Mes mandats").first.click()
    expect(page).to_have_url(re.compile(r"/mandats/$"))
    expect(page).to_have_title("Mes mandats - Aidants Connect")
    rows = page.locator("#usagers tr")
    expect(rows).to_have_count(3)
    angela = rows.filter(has_text="Angela Claire Louise DUBOIS")
    expect(angela).to_contain_text("Papiers - Citoyenneté - Élections, Transports - Mobilité")
    expect(angela).to_contain_text("En cours")
    expect(rows.filter(has_text="Pierre MERCIER")).to_contain_text("Révoqué")
    assert_accessible(page)
    snap("liste")

    # Accents and case do not matter: « eloise » finds « Éloïse ».
    page.get_by_label("Rechercher un usager par son nom").fill("eloise")
    page.get_by_role("button", name="Rechercher").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("LEFÈVRE-N'DIAYE")
    expect(page.locator("#resultat")).to_contain_text("1 usager affiché pour « eloise »")

    page.get_by_label("Rechercher un usager par son nom").fill("personne")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#resultat")).to_have_text("Aucun usager ne correspond à « personne ».")

    page.get_by_label("Rechercher un usager par son nom").fill("")
    page.get_by_role("button", name="Rechercher").click()
    expect(rows).to_have_count(3)
    page.get_by_label("Afficher").select_option("inactive")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Pierre MERCIER")


def test_revoke_one_demarche_then_the_whole_mandate_with_the_code(page, stack, snap):
    aidant = new_aidant(stack)
    _, mandate_id = new_mandate(stack, aidant, ("papiers", "argent", "justice"))
    login_through_page(page, stack, aidant)
    page.goto("/mandats/")
    page.get_by_role("link", name=re.compile("^Mandat du ")).click()
    expect(page).to_have_url(re.compile(r"/mandats/detail/\?id=" + mandate_id))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mandat de Angela Claire Louise DUBOIS")
    expect(page).to_have_title("Mandat de Angela Claire Louise DUBOIS - Aidants Connect")
    assert_accessible(page)
    snap("detail")

    # The printable mandate opens from the page (same session).
    printed = page.request.get(page.get_by_role("link", name="Imprimer le mandat").get_attribute("href"))
    assert printed.status == 200 and "text/html" in printed.headers["content-type"]
    expect(page.get_by_role("link", name="Imprimer l'attestation de révocation")).to_be_hidden()

    # One démarche: a dialog asks for the code; a wrong code is explained in French.
    page.get_by_role("button", name="Révoquer la démarche Argent - Impôts - Consommation").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Révoquer la démarche « Argent - Impôts - Consommation »")
    expect(dialog.get_by_label("Entrez le code à 6 chiffres")).to_be_focused()
    assert_accessible(page)
    snap("dialogue")
    dialog.get_by_label("Entrez le code à 6 chiffres").fill("12")
    dialog.get_by_role("button", name="Confirmer la révocation").click()
    expect(dialog).to_contain_text("Le code doit contenir exactement 6 chiffres.")
    dialog.get_by_label("Entrez le code à 6 chiffres").fill("000000")
    dialog.get_by_role("button", name="Confirmer la révocation").click()
    expect(dialog).to_contain_text("Le code à 6 chiffres est incorrect ou a déjà été utilisé.")
    dialog.get_by_label("Entrez le code à 6 chiffres").fill(aidant.code())
    dialog.get_by_role("button", name="Confirmer la révocation").click()
    expect(dialog).to_be_hidden()
    expect(
        page.get_by_role("alert").or_(page.get_by_role("status")).filter(has_text="Révocation enregistrée")
    ).to_contain_text("La démarche « Argent - Impôts - Consommation » a été révoquée.")
    argent = page.locator("#autorisations tr", has_text="Argent")
    expect(argent).to_contain_text("Révoqué")
    expect(page.locator("#autorisations tr", has_text="Justice")).to_contain_text("En cours")
    attestation = page.get_by_role("link", name="Imprimer l'attestation de révocation").first
    expect(attestation).to_be_visible()
    assert page.request.get(attestation.get_attribute("href")).status == 200
    snap("une-demarche-revoquee")

    # Cancel leaves everything as it was.
    page.get_by_role("button", name="Révoquer le mandat").click()
    expect(dialog.get_by_role("heading")).to_have_text("Révoquer tout le mandat")
    dialog.get_by_role("button", name="Annuler").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Révoquer le mandat")).to_be_focused()

    page.get_by_role("button", name="Révoquer le mandat").click()
    dialog.get_by_label("Entrez le code à 6 chiffres").fill(aidant.code())
    dialog.get_by_role("button", name="Confirmer la révocation").click()
    expect(page.locator("#message")).to_contain_text("Le mandat a été révoqué.")
    expect(page.locator("#statut")).to_contain_text("Révoqué")
    expect(page.get_by_role("button", name="Révoquer le mandat")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("^Révoquer la démarche"))).to_have_count(0)
    assert_accessible(page)


def test_renew_opens_the_creation_form_with_the_mandate_choices(page, stack):
    aidant = new_aidant(stack)
    _, mandate_id = new_mandate(stack, aidant, ("famille", "logement"), duration="six_months")
    login_through_page(page, stack, aidant)
    page.goto(f"/mandats/detail/?id={mandate_id}")
    page.get_by_role("link", name="Renouveler le mandat").click()
    expect(page).to_have_url(re.compile(r"/mandats/nouveau/\?renouveler=" + mandate_id))
    expect(page.locator("#renouvellement")).to_contain_text("Renouvellement du mandat de Angela Claire Louise DUBOIS")
    expect(page.get_by_role("checkbox", name="Famille - Scolarité")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Logement")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Justice")).not_to_be_checked()
    expect(page.get_by_role("radio", name="Mandat de 6 mois")).to_be_checked()


def test_unknown_mandate_is_explained(page, stack):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.goto("/mandats/detail/?id=inexistant")
    expect(page.get_by_role("alert")).to_contain_text("Mandat introuvable")


def test_the_printable_mandate_works_under_its_own_policy(page, stack):
    """The page a function renders allows no inline script (and no framing): its
    "Imprimer" button is wired by /js/print.js, and nothing is blocked (the fixture
    fails the test on any Content-Security-Policy violation)."""
    aidant = new_aidant(stack)
    _, mandate_id = new_mandate(stack, aidant, ("papiers",))
    login_through_page(page, stack, aidant)
    response = page.goto(f"/api/mandates/{mandate_id}/print")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_role("button", name="Imprimer").click()
    assert page.evaluate("window.printed") == 1
