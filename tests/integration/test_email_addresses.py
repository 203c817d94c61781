"""Issue 14 (web), finding 1: the e-mail addresses the service accepts are one mailbox
each, in one normal form, and every e-mail has one explicit envelope recipient.

Before, ``[^@\\s]+@[^@\\s]+`` accepted ``a,victim@example.org``: written into ``To``,
from which smtplib took its recipients, it reached ``victim@example.org`` too, and
each variant escaped the per-address limit of the public accreditation form."""

import time

import pytest
import requests

from tests.conftest import Mailbox, extract_link

REQ = "/api/habilitation/requests"
HOSTILE = [
    "a,victim@example.org",
    "c<victim@example.org",
    "root;x@evil.example",
    "a@test.fr, victim@example.org",
    "Victime <victim@example.org>",
    '"a b"@example.org',
    "a:victim@example.org",
    "a@test.fr\r\nBcc: victim@example.org",
    "a@[192.0.2.1]",
    "a@localhost",
]


def person(email, first="Alice"):
    return {"first_name": first, "last_name": "Test", "email": email, "profession": "Médiatrice"}


def form(referent_email, aidants=()):
    suffix = str(time.time_ns())[-8:]
    return {
        "siret": "80204022000019",
        "name": f"Médiathèque {suffix}",
        "address": "1 rue de la Paix, 75002 Paris",
        "structure_type": "mediatheque",
        "referent": {**person(referent_email, "Rémi"), "phone": "0102030405"},
        "referent_is_aidant": True,
        "aidants": list(aidants),
    }


def unique(prefix="ref"):
    return f"{prefix}-{time.time_ns()}@test.aidantsconnect.fr"


def recipients_of_every_message(stack) -> list[str]:
    """Every envelope recipient the SMTP sink received (its X-Envelope-To)."""
    return [r.strip().lower() for m in stack.mail.messages() for r in str(m["X-Envelope-To"]).split(",")]


def test_hostile_addresses_are_refused_everywhere_and_reach_no_mailbox(stack):
    before = stack.mail.count()
    for address in HOSTILE:
        login = requests.post(stack.url + "/api/login", json={"email": address, "otp": "123456"}, timeout=10)
        assert login.status_code == 400, (address, login.text)
        assert login.json()["error"] == "invalid_email" and login.json()["field"] == "email"
        assert "adresse e-mail" in login.json()["error_description"]

        as_referent = requests.post(stack.url + REQ, json=form(address), timeout=10)
        assert as_referent.status_code == 400, (address, as_referent.text)
        assert as_referent.json()["field"] == "referent.email"
        assert "référent" in as_referent.json()["error_description"]

        as_aidant = requests.post(
            stack.url + REQ, json=form(unique(), [person(unique("a")), person(address)]), timeout=10
        )
        assert as_aidant.status_code == 400, (address, as_aidant.text)
        assert as_aidant.json()["field"] == "aidants.1.email"
        assert "l'aidant n°2" in as_aidant.json()["error_description"]
    time.sleep(1.5)  # what notify would have sent, had anything been accepted
    assert stack.mail.count() == before
    assert not [r for r in recipients_of_every_message(stack) if "victim" in r or "evil" in r]


def test_changing_the_referent_address_of_a_draft_to_a_list_is_refused(stack):
    created = requests.post(stack.url + REQ, json=form(unique()), timeout=10).json()
    r = requests.put(
        f"{stack.url}{REQ}/{created['id']}",
        json=form("a,victim@example.org"),
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["field"] == "referent.email"


def test_case_and_unicode_variants_of_an_address_share_one_allowance(stack):
    """Three requests a day per address: the variants of one mailbox are one address."""
    local = f"Var-{time.time_ns()}"
    variants = [
        f"{local}@École.example.fr",
        f" {local.upper()}@ÉCOLE.EXAMPLE.FR ",
        f"{local.lower()}@e\u0301cole.example.fr",  # the same "é", decomposed (NFD)
        f"{local.lower()}@xn--cole-9oa.example.fr",
    ]  # and in its IDNA form
    statuses = [requests.post(stack.url + REQ, json=form(v), timeout=10).status_code for v in variants]
    assert statuses == [201, 201, 201, 429], statuses
    stack.use_store()
    from shared.store import HabilitationRequest

    stored = {
        r.referent.email
        for r in HabilitationRequest.gsi1.query("HABILITATIONS#brouillon")
        if r.referent.email.startswith(local.lower())
    }
    assert stored == {f"{local.lower()}@école.example.fr"}  # one normal form: NFC, lower case


def test_the_same_person_twice_in_two_cases_is_one_duplicate(stack):
    r = requests.post(
        stack.url + REQ, json=form(unique(), [person("Alice@Test.fr"), person("alice@TEST.fr ")]), timeout=10
    )
    assert r.status_code == 400 and r.json()["error"] == "duplicate_email" and r.json()["field"] == "aidants.1.email"


def test_the_demo_aidant_logs_in_with_the_address_in_capitals(stack):
    typed = stack.seed["aidant"]["email"].upper()
    assert typed.startswith("CAMILLE.FWOLK@")
    session = requests.Session()
    before = stack.mail.count()
    r = session.post(stack.url + "/api/login", json={"email": typed, "otp": stack.otp(typed, 1)}, timeout=10)
    assert r.status_code == 200, r.text
    message = stack.mail.wait_for(stack.seed["aidant"]["email"], "connexion", after=before)
    link = extract_link(Mailbox.text(message), "/api/login/")
    assert session.get(link, allow_redirects=False).status_code == 302
    assert session.get(stack.url + "/api/me").json()["aidant"]["email"] == stack.seed["aidant"]["email"]


def test_login_counts_wrong_codes_per_mailbox_whatever_the_case(stack):
    email = stack.new_aidant()
    good = stack.otp(email)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    variants = [email, email.upper(), email.title(), f"  {email}", email.swapcase()]
    statuses = [
        requests.post(stack.url + "/api/login", json={"email": v, "otp": wrong}, timeout=10).status_code
        for v in variants
    ]
    assert statuses == [401] * 5
    locked = requests.post(stack.url + "/api/login", json={"email": email.upper(), "otp": good}, timeout=10)
    assert locked.status_code == 429


def test_each_message_has_one_envelope_recipient_its_own_address(stack):
    address = unique("env")
    before = stack.mail.count()
    assert requests.post(stack.url + REQ, json=form(address.upper()), timeout=10).status_code == 201
    message = stack.mail.wait_for(address, "habilitation", after=before)
    assert str(message["X-Envelope-To"]) == address
    assert str(message["To"]) == address


@pytest.mark.parametrize("address", ["a,victim@example.org", "c<victim@example.org"])
def test_an_outbox_item_written_with_a_list_is_never_sent(stack, address):
    """An item written before addresses were checked (or by any bug) fails instead of
    mailing whoever its To would name."""
    stack.use_store()
    from shared import notifications

    item = notifications.new_item(
        "habilitation_created",
        address,
        {
            "first_name": "X",
            "structure_name": "Y",
            "link": "http://x",
            "status": "brouillon",
            "status_label": "Brouillon",
        },
    )
    item.save()
    before = stack.mail.count()
    assert notifications.deliver(item.id) == notifications.FAILED
    assert stack.mail.count() == before
    assert item.refresh() is None and item.status == "failed"
