"""Aidants in several structures, the terms of use and the draft preview, in the
browser: the header's structure and its one-click switch (and a switch made in
another tab), an invitation accepted with the code, the référent's invitations, the
terms to accept before acting, « Voir le projet de mandat », and the identity
provider's page when the structure changes under it. axe-core on each new state."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, login_through_page, new_aidant, new_mandate
from tests.browser.test_mandate_creation import pick_identity, tick
from tests.browser.test_mandates import PIERRE

HOME = "France Services de Soissons"
OTHER = "Médiathèque de Laon"


def also_in(stack, aidant, structure_id: str) -> None:
    """The aidant works for this structure too (as an accepted invitation leaves it)."""
    stack.use_store()
    from shared.store import Aidant, Membership

    Membership.new(structure_id, aidant.id).save()
    Aidant(*Aidant.key(aidant.id)).update(actions=[Aidant.structure_ids.add({structure_id})])


def two_places(stack):
    aidant = new_aidant(stack, structure_name=HOME)
    other = stack.new_structure(OTHER)
    also_in(stack, aidant, other)
    return aidant, other


def bar(page):
    return page.locator("#structure-courante")


def log_in_and_pick(page, stack, aidant, structure: str = HOME) -> None:
    """An aidant of several structures picks, after logging in, the one they act for."""
    login_through_page(page, stack, aidant)
    expect(page).to_have_url(re.compile(r"/choisir-structure/\?next="))
    page.get_by_role("button", name=re.compile("^" + re.escape(structure))).click()
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))


def test_the_header_shows_the_structure_acted_for_and_switches_in_one_click(page, context, stack, snap):
    aidant, other = two_places(stack)
    new_mandate(stack, aidant, ("papiers",))
    # After logging in, the aidant picks the structure they act for (the last one first).
    login_through_page(page, stack, aidant)
    expect(page).to_have_url(re.compile(r"/choisir-structure/\?next=%2Fespace-aidant%2F$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pour quelle structure agissez-vous ?")
    choices = page.locator("#structures button")
    expect(choices).to_have_count(2)
    expect(choices.first).to_contain_text(HOME)
    expect(choices.first).to_contain_text("dernière structure utilisée")
    assert_accessible(page)
    snap("choix")
    page.get_by_role("button", name=re.compile("^" + HOME)).click()
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    expect(bar(page)).to_contain_text(f"Vous agissez pour {HOME}")
    assert_accessible(page)
    snap("espace")
    page.goto("/mandats/")
    expect(page.get_by_text("Angela Claire Louise DUBOIS").first).to_be_visible()
    bar(page).get_by_role("button", name=f"Agir pour {OTHER}").click()
    expect(bar(page)).to_contain_text(f"Vous agissez pour {OTHER}")
    expect(page.get_by_text("Votre structure n'a encore aucun mandat")).to_be_visible()
    expect(bar(page).get_by_role("button", name=f"Agir pour {HOME}")).to_be_visible()
    assert_accessible(page)
    snap("apres-changement")

    # Another tab switches back: this one says so when it comes to the front again.
    other_tab = context.new_page()
    other_tab.goto("/espace-aidant/")
    other_tab.locator("#structure-courante").get_by_role("button", name=f"Agir pour {HOME}").click()
    expect(other_tab.locator("#structure-courante")).to_contain_text(f"Vous agissez pour {HOME}")
    page.bring_to_front()
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    expect(bar(page)).to_contain_text(f"Vous agissez maintenant pour {HOME} (changement fait dans un autre onglet)")
    assert_accessible(page)
    snap("autre-onglet")
    bar(page).get_by_role("button", name="Recharger la page").click()
    expect(page.get_by_text("Angela Claire Louise DUBOIS").first).to_be_visible()


def test_an_invitation_is_accepted_from_the_espace_aidant_with_the_code(page, stack, snap):
    aidant = new_aidant(stack, first_name="Pascal", structure_name=HOME)
    other = stack.new_structure(OTHER)
    referent = stack.new_aidant(other, first_name="Rita", last_name="Référente", referent_of=[other])
    session = stack.login(requests.Session(), referent)
    r = session.post(f"{stack.url}/api/referent/structures/{other}/invitations", json={"email": aidant.email})
    assert r.status_code == 201, r.text

    login_through_page(page, stack, aidant)
    invitations = page.locator("#invitations")
    expect(invitations.get_by_role("heading", name=OTHER)).to_be_visible()
    expect(invitations).to_contain_text(f"Rita Référente vous invite à rejoindre {OTHER}")
    expect(bar(page).get_by_role("link", name="Une invitation à rejoindre une structure")).to_be_visible()
    assert_accessible(page)
    snap("invitation")

    code = invitations.get_by_label("Code à 6 chiffres de votre carte ou de votre application")
    code.fill("12")
    invitations.get_by_role("button", name=f"Rejoindre {OTHER}").click()
    expect(invitations).to_contain_text("Le code doit contenir exactement 6 chiffres.")
    code.fill("000000")
    invitations.get_by_role("button", name=f"Rejoindre {OTHER}").click()
    expect(invitations).to_contain_text("Le code à 6 chiffres est incorrect")
    assert_accessible(page)
    snap("code-refuse")

    code.fill(aidant.code())
    invitations.get_by_role("button", name=f"Rejoindre {OTHER}").click()
    expect(page).to_have_url(re.compile(r"/espace-aidant/\?rejoint="))
    expect(page.get_by_role("heading", name=f"Vous avez rejoint {OTHER}")).to_be_visible()
    expect(page.locator("#invitations")).to_be_hidden()
    expect(bar(page).get_by_role("button", name=f"Agir pour {OTHER}")).to_be_visible()
    assert_accessible(page)
    snap("rejoint")
    page.get_by_role("button", name=f"Agir pour {OTHER} maintenant").click()
    expect(bar(page)).to_contain_text(f"Vous agissez pour {OTHER}")


def test_a_referent_invites_a_newcomer_and_an_aidant_of_another_structure(page, stack, snap):
    referent = new_aidant(stack, first_name="Rita", referent=True, structure_name=HOME)
    elsewhere = new_aidant(stack, first_name="Paul", structure_name=OTHER)
    login_through_page(page, stack, referent)
    page.goto(f"/espace-responsable/structure/?id={referent.structure_id}")
    form = page.locator("#form-inviter")
    expect(page.get_by_role("heading", name="Inviter un aidant")).to_be_visible()
    expect(page.get_by_text("Aucune invitation en attente.")).to_be_visible()
    assert_accessible(page)

    form.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.locator("#groupe-invite-email")).to_contain_text("Saisissez l'adresse e-mail")
    newcomer = f"nora.{referent.id.lower()}@test.aidantsconnect.fr"
    form.get_by_label("Adresse e-mail professionnelle").fill(newcomer)
    form.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.locator("#groupe-invite-prenom")).to_contain_text("indiquez son prénom")
    expect(form.get_by_label(re.compile("^Prénom"))).to_be_focused()
    assert_accessible(page)
    snap("nom-manquant")
    form.get_by_label(re.compile("^Prénom")).fill("Nora")
    form.get_by_label(re.compile("^Nom")).fill("Nouvelle")
    form.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.get_by_role("heading", name="Invitation envoyée")).to_be_visible()
    expect(page.locator("#aidants")).to_contain_text("Nora Nouvelle")

    form.get_by_label("Adresse e-mail professionnelle").fill(elsewhere.email)
    form.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.locator("#invitations")).to_contain_text(elsewhere.email)
    assert_accessible(page)
    snap("en-attente")
    page.get_by_role("button", name=f"Retirer l'invitation de {elsewhere.email}").click()
    expect(page.get_by_role("heading", name="Invitation retirée")).to_be_visible()
    expect(page.get_by_text("Aucune invitation en attente.")).to_be_visible()
    assert_accessible(page)


def test_the_terms_of_use_are_read_and_accepted_before_acting_on_a_mandate(page, stack, snap):
    aidant = new_aidant(stack, first_name="Clara", structure_name=HOME)
    stack.use_store()
    from shared.store import Aidant

    Aidant(*Aidant.key(aidant.id)).update(actions=[Aidant.cgu_version.remove()])
    login_through_page(page, stack, aidant)
    expect(page.get_by_text("Nous vous prions de bien vouloir")).to_be_visible()
    expect(bar(page).get_by_role("link", name="Valider les conditions générales d'utilisation")).to_be_visible()
    assert_accessible(page)
    snap("espace")

    # Trying to act says why, with the way to the terms.
    page.goto("/mandats/nouveau/")
    page.locator("label.ac-card", has_text="Papiers - Citoyenneté").click()
    tick(page, "radio", "Mandat long")
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    alert = page.locator("#message")
    expect(alert).to_contain_text("acceptez les conditions générales d'utilisation")
    assert_accessible(page)
    snap("refus")
    alert.get_by_role("link", name="Lire et accepter les conditions générales d'utilisation").click()

    expect(page).to_have_url(re.compile(r"/cgu/\?next=%2Fmandats%2Fnouveau%2F"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Conditions générales d'utilisation d'Aidants Connect")
    expect(page.get_by_role("heading", name="4. Engagements de l'aidant")).to_be_visible()
    expect(page.get_by_role("heading", name="Validez les conditions générales d'utilisation")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Valider les conditions générales d'utilisation").click()
    expect(page.locator("#groupe-lu")).to_contain_text("Cochez la case pour accepter les conditions.")
    assert_accessible(page)
    snap("cgu-case")
    page.locator("label[for='lu']").click()
    page.get_by_role("button", name="Valider les conditions générales d'utilisation").click()
    expect(page).to_have_url(re.compile(r"/mandats/nouveau/$"))
    expect(bar(page).get_by_role("link", name="Valider les conditions générales d'utilisation")).to_have_count(0)
    page.goto("/cgu/")
    expect(page.get_by_text("Vous avez accepté cette version.")).to_be_visible()
    assert_accessible(page)


def test_the_recap_shows_the_draft_as_printed_and_a_draft_of_another_structure_is_not_signed_here(
    page, context, stack, snap
):
    aidant, other = two_places(stack)
    log_in_and_pick(page, stack, aidant)
    page.goto("/mandats/nouveau/")
    page.locator("label.ac-card", has_text="Papiers - Citoyenneté").click()
    tick(page, "radio", "Mandat long")
    page.get_by_role("button", name="S’identifier avec FranceConnect").click()
    pick_identity(page, "Angela Claire Louise DUBOIS")
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif du mandat")
    link = page.get_by_role("link", name="Voir le projet de mandat")
    expect(link).to_have_attribute("href", re.compile(r"^/api/mandates/drafts/[\w-]+/print$"))
    expect(link).to_have_attribute("target", "_blank")
    with context.expect_page() as opened:
        link.click()
    preview = opened.value
    expect(preview.get_by_role("heading", level=1)).to_have_text("Projet de mandat Aidants Connect")
    expect(preview.locator("body")).to_contain_text("Projet de mandat, non signé")
    expect(preview.locator("body")).to_have_class("is-draft")
    expect(preview.locator("body")).to_contain_text(f"Angela Claire Louise DUBOIS autorise {HOME}")
    assert_accessible(preview)
    preview.close()

    # Another tab switches to the médiathèque; the recap, reloaded, offers to go back.
    other_tab = context.new_page()
    other_tab.goto("/espace-aidant/")
    other_tab.locator("#structure-courante").get_by_role("button", name=f"Agir pour {OTHER}").click()
    expect(other_tab.locator("#structure-courante")).to_contain_text(f"Vous agissez pour {OTHER}")
    other_tab.close()
    page.reload()
    expect(page.get_by_role("heading", name="Ce projet de mandat est celui d'une autre structure")).to_be_visible()
    expect(page.locator("#recapitulatif")).to_be_hidden()
    assert_accessible(page)
    snap("autre-structure")
    page.get_by_role("button", name=f"Agir pour {HOME} et reprendre le mandat").click()
    expect(page.locator("section.ac-summary")).to_be_visible()
    expect(bar(page)).to_contain_text(f"Vous agissez pour {HOME}")


def test_the_identity_provider_page_follows_a_switch_made_in_another_tab(page, context, stack, snap):
    aidant, other = two_places(stack)
    new_mandate(stack, aidant, ("papiers",))
    stack.use_store()
    from shared import mandates

    pierre = mandates.upsert_usager("fc-pierre-" + aidant.id, PIERRE)
    mandates.create(
        mandates.NewMandate(
            structure_id=other,
            usager=pierre,
            demarches=["transports"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id=aidant.id,
            aidant_name="Camille Test",
            text_snapshot="",
        )
    )
    log_in_and_pick(page, stack, aidant)
    page.goto("/demo/")
    page.get_by_role("link", name="S'identifier avec FranceConnect").click()
    page.get_by_role("link", name="Vous êtes un aidant professionnel").click()
    expect(page).to_have_url(re.compile(r"/fi/\?txn="))
    expect(page.get_by_text(f"auprès de {HOME}")).to_be_visible()
    page.get_by_role("button", name="Angela Claire Louise DUBOIS").click()

    other_tab = context.new_page()
    other_tab.goto("/espace-aidant/")
    other_tab.locator("#structure-courante").get_by_role("button", name=f"Agir pour {OTHER}").click()
    expect(other_tab.locator("#structure-courante")).to_contain_text(f"Vous agissez pour {OTHER}")
    other_tab.close()

    page.get_by_role("button", name="Papiers - Citoyenneté - Élections").click()
    expect(page.get_by_role("heading", name="La structure a changé")).to_be_visible()
    expect(page.get_by_text(f"auprès de {OTHER}")).to_be_visible()
    expect(page.get_by_role("button", name="Pierre MERCIER")).to_be_visible()
    expect(page.get_by_role("button", name="Angela Claire Louise DUBOIS")).to_have_count(0)
    assert_accessible(page)
    snap("structure-changee")


def test_picking_the_other_structure_after_login_goes_on_where_the_aidant_was_going(page, stack):
    aidant, other = two_places(stack)
    login_through_page(page, stack, aidant, start="/connexion/?next=%2Fmandats%2F")
    expect(page).to_have_url(re.compile(r"/choisir-structure/\?next=%2Fmandats%2F$"))
    page.get_by_role("button", name=re.compile("^" + OTHER)).click()
    expect(page).to_have_url(re.compile(r"/mandats/$"))
    expect(bar(page)).to_contain_text(f"Vous agissez pour {OTHER}")
    # One structure: nothing to pick, straight on.
    page.goto("/choisir-structure/?next=%2Fmandats%2F")
    expect(page.locator("#structures button")).to_have_count(2)
    single = new_aidant(stack, first_name="Solo", structure_name="Seule structure")
    page.context.clear_cookies()
    login_through_page(page, stack, single)
    expect(page).to_have_url(re.compile(r"/espace-aidant/$"))
    page.goto("/choisir-structure/?next=%2Fmandats%2F")
    expect(page).to_have_url(re.compile(r"/mandats/$"))
