"""Créer un mandat: démarches and duration → the usager logs in with FranceConnect
(the local stand-in) → Récapitulatif du mandat → the aidant's code → print."""

import re

from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant

STRUCTURE = "Maison France Services de Laon"


def tick(page, role, name):
    """Click the label, as a person does: DSFR draws radios and checkboxes on the
    label and hides the native input under it."""
    control = page.get_by_role(role, name=name)
    page.locator(f"label[for='{control.get_attribute('id')}']").click()
    expect(control).to_be_checked()


def pick_identity(page, name):
    """On the FranceConnect stand-in: the usager logs in with this test identity."""
    expect(page).to_have_url(re.compile(r"/franceconnect/"))
    page.locator("li", has_text=name).get_by_role("button", name="Se connecter").click()


def test_create_a_remote_mandate_through_franceconnect_sign_it_and_print_it(page, stack, snap):
    aidant = new_aidant(stack, structure_name=STRUCTURE)
    login_through_page(page, stack, aidant)
    page.get_by_role("link", name="Créer un mandat").first.click()
    expect(page).to_have_url(re.compile(r"/mandats/nouveau/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer ou renouveler un mandat")
    expect(page.locator("#mentions")).to_contain_text(f"Les aidants habilités par {STRUCTURE} doivent :")
    expect(page.locator("#demarches input[type=checkbox]")).to_have_count(10)
    expect(page.locator("#demarches img").first).to_have_attribute("src", re.compile(r"^/img/demarches/\w+\.svg$"))
    assert_accessible(page)
    snap("formulaire")

    # Nothing chosen: each missing answer is said next to its question.
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    expect(page.locator("#etape-demarches")).to_contain_text("Sélectionnez au moins une démarche.")
    expect(page.locator("#etape-duree")).to_contain_text("Choisissez la durée du mandat.")
    expect(page.get_by_role("checkbox", name="Papiers - Citoyenneté - Élections")).to_be_focused()
    assert_accessible(page)

    # The whole card is clickable; the remote box reveals the consent proof.
    page.locator("label.ac-card", has_text="Papiers - Citoyenneté").click()
    page.get_by_role("checkbox", name="Transports - Mobilité").check()
    tick(page, "radio", "Mandat long")
    expect(page.get_by_label("Référence de la preuve de consentement")).to_be_hidden()
    tick(page, "checkbox", re.compile("La signature du mandat se fait-elle à distance"))
    expect(page.get_by_label("Référence de la preuve de consentement")).to_be_visible()
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    expect(page.locator("#groupe-methode")).to_contain_text("Indiquez comment l'usager a donné son consentement.")
    tick(page, "radio", "Par SMS")
    page.get_by_label("Référence de la preuve de consentement").fill("SMS du 06 12 34 56 78, 10 h 02")
    assert_accessible(page)
    snap("formulaire-rempli")
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()

    pick_identity(page, "Angela Claire Louise DUBOIS")
    expect(page).to_have_url(re.compile(r"/mandats/recapitulatif/\?draft="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif du mandat")
    summary = page.locator("section.ac-summary")
    expect(summary).to_contain_text(f"Angela Claire Louise DUBOIS autorise {STRUCTURE} à réaliser à sa place")
    expect(summary).to_contain_text("PAPIERS - CITOYENNETÉ - ÉLECTIONS")
    expect(summary).to_contain_text("TRANSPORTS - MOBILITÉ")
    expect(summary).to_contain_text("pour une durée de 1 an.")
    expect(summary).to_contain_text("Mandat réalisé à distance")
    expect(summary).to_contain_text("SMS du 06 12 34 56 78, 10 h 02")
    expect(
        page.get_by_role("checkbox", name=re.compile("Avoir obtenu et conservé un consentement écrit"))
    ).to_be_visible()
    assert_accessible(page)
    snap("recapitulatif")

    page.get_by_role("button", name="Enregistrer le mandat").click()
    expect(page.locator("#groupe-validation")).to_contain_text("Cochez les deux cases pour confirmer.")
    expect(page.locator("#groupe-otp")).to_contain_text("Le code doit contenir exactement 6 chiffres.")
    tick(page, "checkbox", re.compile("Avoir communiqué à Angela Claire Louise DUBOIS"))
    tick(page, "checkbox", re.compile("Avoir obtenu et conservé un consentement écrit"))
    page.get_by_label("Entrez le code à 6 chiffres").fill("000000")
    page.get_by_role("button", name="Enregistrer le mandat").click()
    expect(page.locator("#groupe-otp")).to_contain_text("Le code à 6 chiffres est incorrect ou a déjà été utilisé.")
    page.get_by_label("Entrez le code à 6 chiffres").fill(aidant.code())
    page.get_by_role("button", name="Enregistrer le mandat").click()

    expect(page).to_have_url(re.compile(r"/mandats/enregistre/\?id="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Le mandat a été enregistré")
    expect(page.locator("#resume")).to_contain_text(
        "Mandat de Angela Claire Louise DUBOIS pour : Papiers - Citoyenneté - Élections, Transports - Mobilité"
    )
    mandate_id = page.url.split("id=")[1]
    print_link = page.get_by_role("link", name="Imprimer le mandat")
    expect(print_link).to_have_attribute("href", f"/api/mandates/{mandate_id}/print")
    printed = page.request.get(print_link.get_attribute("href"))
    assert printed.status == 200 and "DUBOIS" in printed.text()
    assert_accessible(page)
    snap("enregistre")

    page.get_by_role("link", name="Voir le mandat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mandat de Angela Claire Louise DUBOIS")
    expect(page.locator("#elements")).to_contain_text("à distance (consentement par SMS")


def test_cancelled_franceconnect_login_comes_back_with_a_message_and_the_choices_kept(page, stack, snap):
    aidant = new_aidant(stack)
    login_through_page(page, stack, aidant)
    page.goto("/mandats/nouveau/")
    page.get_by_role("checkbox", name="Famille - Scolarité").check()
    tick(page, "radio", "Mandat court")
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    expect(page).to_have_url(re.compile(r"/franceconnect/"))
    page.get_by_role("link", name=re.compile("Annuler")).click()

    expect(page).to_have_url(re.compile(r"/mandats/nouveau/\?draft=.+&error=franceconnect_cancelled"))
    expect(page.get_by_role("alert")).to_contain_text("La connexion à FranceConnect a été annulée")
    expect(page.get_by_role("checkbox", name="Famille - Scolarité")).to_be_checked()
    expect(page.get_by_role("radio", name="Mandat court")).to_be_checked()
    assert_accessible(page)
    snap("annule")

    # Second try: a mandate signed in the room, one confirmation box only.
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    pick_identity(page, "Pierre MERCIER")
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif du mandat")
    expect(page.locator("section.ac-summary")).to_contain_text("pour une durée de 1 jour.")
    expect(page.locator("#recap-distance")).to_be_hidden()
    expect(page.get_by_role("checkbox", name=re.compile("consentement écrit"))).to_be_hidden()
    tick(page, "checkbox", re.compile("Avoir communiqué à Pierre MERCIER"))
    page.get_by_label("Entrez le code à 6 chiffres").fill(aidant.code())
    page.get_by_role("button", name="Enregistrer le mandat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Le mandat a été enregistré")

    # The recap of a signed draft says so instead of offering to sign twice.
    page.go_back()
    expect(page.locator("#message")).to_contain_text("Ce mandat est déjà enregistré")
