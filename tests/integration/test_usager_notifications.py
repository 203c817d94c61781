"""The usager is e-mailed, through the outbox and the real SMTP sink, when a mandate
is signed or revoked and when a démarche is carried out in their name."""

from __future__ import annotations

import requests

from tests.conftest import Mailbox

from .mandate_flow import new_aidant
from .oidc_fc import make_world

ANGELA = "angela.dubois@example.fr"


def test_signing_a_mandate_emails_the_usager(stack):
    aidant = new_aidant(stack)
    before = stack.mail.count()
    aidant.create_mandate(demarches=("papiers", "argent"), duration="six_months")
    message = stack.mail.wait_for(ANGELA, "Votre mandat Aidants Connect avec", after=before)
    text = Mailbox.text(message)
    assert "Maison France Services de Test" in str(message["Subject"])
    assert "Papiers - Citoyenneté - Élections" in text and "Argent - Impôts - Consommation" in text
    assert "révoquer" in text.lower()
    assert "Test Aidant" not in text  # the aidant's personal data is not the usager's business


def test_revoking_emails_the_usager(stack):
    aidant = new_aidant(stack)
    mandate_id = aidant.create_mandate(demarches=("papiers", "logement"))
    before = stack.mail.count()
    assert aidant.revoke(mandate_id, "logement").status_code == 200
    changed = stack.mail.wait_for(ANGELA, "a été modifié", after=before)
    assert "Logement" in Mailbox.text(changed)
    before = stack.mail.count()
    assert aidant.revoke(mandate_id).status_code == 200
    stack.mail.wait_for(ANGELA, "est révoqué", after=before)


def test_a_demarche_carried_out_through_the_identity_provider_emails_the_usager(stack):
    world = make_world(stack)
    before = stack.mail.count()
    pending = world.fc.authorize(requests.Session())
    token = world.fc.fetch_token(pending, world.code_for(pending, "argent"))
    assert token["access_token"]
    message = stack.mail.wait_for(ANGELA, "Une démarche a été effectuée pour vous", after=before)
    text = Mailbox.text(message)
    assert "Structure OIDC" in text and "Argent - Impôts - Consommation" in text
    assert world.aidant_email not in text
