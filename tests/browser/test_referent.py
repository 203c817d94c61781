"""The référent's main journey in the browser: Espace Responsable, the aidants table,
linking then validating a physical card; and the QR code enrolment page."""

import re
import time

import pyotp
from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant


def new_card(stack):
    stack.use_store()
    from shared import cards, crypto

    serial = "B" + crypto.new_id(8).upper()
    seed = pyotp.random_base32(32)
    assert cards.import_cards(
        [{"serial": serial, "seed": seed}], encoding="base32", structure_id=None, actor_id="test"
    ).imported == [serial]
    return serial, pyotp.TOTP(seed, interval=60)


def test_the_referent_links_and_validates_a_card_for_an_aidant(page, stack, snap):
    rita = new_aidant(stack, first_name="Rita", referent=True, structure_name="France Services de Laon")
    anne = stack.new_aidant(rita.structure_id, first_name="Anne", last_name="Martin", device_kind=None)
    serial, totp = new_card(stack)
    login_through_page(page, stack, rita)
    page.goto("/espace-responsable/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue sur votre Espace Responsable, Rita !")
    expect(page.get_by_role("heading", name="Les structures dont vous êtes responsable")).to_be_visible()
    expect(page.get_by_text("Avant toute chose, activez votre carte Aidants Connect")).to_be_visible()
    assert_accessible(page)
    snap("espace-responsable")

    page.get_by_role("link", name="France Services de Laon").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon organisation : France Services de Laon")
    table = page.get_by_role("table", name="Aidants de la structure")
    for header in ("Nom", "Email", "Carte OTP"):
        expect(table.get_by_role("columnheader", name=header)).to_be_visible()
    anne_row = table.get_by_role("row").filter(has_text=anne)
    expect(anne_row.get_by_role("cell", name=anne)).to_be_visible()
    assert_accessible(page)
    snap("aidants")

    anne_row.get_by_role("button", name="Activer une carte pour Anne Martin").click()
    dialog = page.get_by_role("dialog", name="Lier une carte Aidants Connect")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Numéro de série de la carte").fill(serial.lower())
    dialog.get_by_role("button", name="Lier la carte").click()
    validate = page.get_by_role("dialog", name=f"Valider la carte {serial}")
    expect(validate).to_be_visible()
    assert_accessible(page)
    snap("valider")
    validate.get_by_label("Code affiché par la carte").fill("000000" if totp.now() != "000000" else "111111")
    validate.get_by_role("button", name="Valider la carte", exact=True).click()
    expect(validate.get_by_text("Le code à 6 chiffres est incorrect")).to_be_visible()
    validate.get_by_label("Code affiché par la carte").fill(totp.now())
    validate.get_by_role("button", name="Valider la carte", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text("Carte validée")).to_be_visible()
    expect(anne_row.get_by_role("cell", name=re.compile(serial))).to_be_visible()
    expect(anne_row.get_by_role("button", name="Délier la carte de Anne Martin")).to_be_visible()
    snap("validee")

    # The card now opens Anne's session.
    stack.use_store()
    from shared import accounts, otp

    _, devices = otp.devices_of(accounts.find_aidant_by_email(anne).id)
    assert [(d.device_kind, d.serial, d.confirmed) for d in devices] == [("card", serial, True)]


def test_the_referent_enrols_an_aidant_on_the_phone_app_by_qr_code(page, stack, snap):
    rita = new_aidant(stack, first_name="Rita", referent=True)
    anne = stack.new_aidant(rita.structure_id, first_name="Anne", last_name="Martin", device_kind=None)
    login_through_page(page, stack, rita)
    page.goto("/espace-responsable/")
    page.get_by_role("link", name="France Services de test").click()
    page.get_by_role("link", name="Utiliser l'application pour Anne Martin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Utiliser l'application sur téléphone")
    expect(page.get_by_text(f"Pour Anne Martin ({anne})")).to_be_visible()
    page.get_by_role("button", name="Afficher le QR code").click()
    qr = page.get_by_role("img", name="QR code à scanner avec l'application d'authentification")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert_accessible(page)
    snap("qr")
    secret = page.locator("#cle").inner_text()
    page.get_by_label("Code affiché par l'application").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="Valider l'application").click()
    expect(page.get_by_text("Application validée")).to_be_visible()
    expect(qr).to_be_hidden()


def test_a_structure_requests_accreditation_and_follows_it(page, stack, snap):
    suffix = str(time.time_ns())[-8:]
    email = f"rose-{suffix}@test.aidantsconnect.fr"
    page.goto("/habilitation/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Demande d'habilitation")
    assert_accessible(page)
    page.get_by_label("SIRET").fill("80204022000019")
    page.get_by_label("Nom de la structure").fill(f"Centre social {suffix}")
    page.get_by_label("Adresse postale").fill("3 rue Neuve, 02000 Laon")
    page.get_by_label("Type de structure").select_option("association")
    page.get_by_label("Prénom", exact=True).first.fill("Rose")
    page.locator("#ref-nom").fill("Lenoir")
    page.get_by_label("Adresse e-mail professionnelle").first.fill(email)
    page.locator("#ref-fonction").fill("Directrice")
    aidant = page.get_by_role("group", name="Aidant n°1")
    aidant.get_by_label("Prénom").fill("Paul")
    aidant.get_by_label("Nom", exact=True).fill("Durand")
    aidant.get_by_label("Fonction (métier)").fill("Médiateur numérique")
    # An address naming two mailboxes is refused by the server, next to its input.
    paul_email = aidant.get_by_label("Adresse e-mail professionnelle")
    paul_email.fill(f"paul-{suffix}@test.aidantsconnect.fr,victim@example.org")
    page.get_by_role("button", name="Enregistrer ma demande").click()
    expect(aidant.locator('[data-champ="email"]')).to_contain_text("une seule adresse e-mail valide")
    expect(paul_email).to_be_focused()
    expect(paul_email).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    paul_email.fill(f"paul-{suffix}@test.aidantsconnect.fr")
    snap("formulaire")
    page.get_by_role("button", name="Enregistrer ma demande").click()
    expect(page).to_have_url(re.compile(r"/habilitation/suivi/\?demande=\w+#"))
    expect(page.get_by_text("Brouillon", exact=True)).to_be_visible()
    expect(page.get_by_text("Paul Durand — Médiateur numérique")).to_be_visible()
    # A draft has nobody to write to yet: the exchange opens once it is sent.
    expect(page.get_by_label("Votre message")).to_be_hidden()
    expect(page.get_by_text("une fois votre demande envoyée")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Envoyer la demande à l'équipe Aidants Connect").click()
    expect(page.get_by_text("Demande envoyée")).to_be_visible()
    expect(page.get_by_text("Envoyée", exact=True)).to_be_visible()
    page.get_by_label("Votre message").fill("Nous sommes ouverts le samedi.")
    page.get_by_role("button", name="Envoyer le message").click()
    expect(page.get_by_text("Nous sommes ouverts le samedi.")).to_be_visible()
    snap("suivi")
    assert stack.mail.wait_for(email, "habilitation")


def test_staff_accept_a_request_and_mark_training(page, stack, snap):
    import requests

    suffix = str(time.time_ns())[-8:]
    body = {
        "siret": "80204022000019",
        "name": f"Mairie {suffix}",
        "address": "1 place de l'Hôtel de Ville",
        "structure_type": "mairie",
        "referent_is_aidant": False,
        "referent": {
            "first_name": "Léa",
            "last_name": "Roux",
            "email": f"lea-{suffix}@test.aidantsconnect.fr",
            "profession": "Secrétaire générale",
        },
        "aidants": [
            {
                "first_name": "Marc",
                "last_name": "Petit",
                "email": f"marc-{suffix}@test.aidantsconnect.fr",
                "profession": "Agent d'accueil",
            }
        ],
    }
    created = requests.post(stack.url + "/api/habilitation/requests", json=body).json()
    requests.post(
        f"{stack.url}/api/habilitation/requests/{created['id']}/submit",
        json={},
        headers={"Authorization": "Bearer " + created["token"]},
    )
    estelle = new_aidant(stack, first_name="Estelle")
    stack.use_store()
    from shared.store import Aidant

    Aidant(*Aidant.key(estelle.id)).update(actions=[Aidant.is_staff.set(True)])
    login_through_page(page, stack, estelle)
    page.goto("/staff/")
    page.get_by_role("link", name=f"Mairie {suffix}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Demande d'habilitation : Mairie {suffix}")
    assert_accessible(page)
    page.get_by_role("button", name="Accepter").click()
    expect(page.get_by_text("Demande acceptée")).to_be_visible()
    accounts = page.get_by_role("table", name="Comptes de la structure")
    marc = accounts.get_by_role("row").filter(has_text="Marc Petit")
    marc.get_by_label("Date de formation").fill("2024-06-03")
    marc.get_by_text("Test PIX réussi").click()  # DSFR draws the box on the label
    expect(marc.get_by_label("Test PIX réussi")).to_be_checked()
    marc.get_by_role("button", name="Enregistrer la formation de Marc Petit").click()
    expect(page.get_by_text("Formation enregistrée")).to_be_visible()
    assert_accessible(page)
    snap("acceptee")
    stack.mail.wait_for(body["referent"]["email"], "acceptée")
