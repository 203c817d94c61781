"""Issue 14 (web), finding 2: a request with neither an aidant session nor client
authentication writes nothing permanent.

Its refusals are log lines (``shared.anonymous``) or counters that expire; what it
creates carries a TTL and is checked for expiry in code. The one exception is an
accreditation request once submitted, which is kept (with the journal entry of its
submission and the requester's messages, both bounded).

``test_items_left_by_a_thousand_anonymous_requests_of_each_kind`` measures it: the
items in DynamoDB Local before and after 1 000 requests of each kind (a Scan: in a
test only). docs/reliability.md, "Anonymous requests", shows its figures."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections import Counter

import pytest
import requests

from tests.conftest import Mailbox, extract_link

REQ = "/api/habilitation/requests"
N = 1000
SCHEDULER_TEMPLATES = {"expiry_reminder"}  # written by the cron run, not by these requests


def form(email, suffix=""):
    return {
        "siret": "80204022000019",
        "name": f"Tiers-lieu {suffix or time.time_ns()}",
        "address": "1 rue de la Paix, 75002 Paris",
        "structure_type": "tiers_lieu",
        "referent": {
            "first_name": "Rémi",
            "last_name": "Test",
            "email": email,
            "profession": "Directeur",
            "phone": "0102030405",
        },
        "referent_is_aidant": True,
        "aidants": [],
    }


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def unique(prefix):
    return f"{prefix}-{time.time_ns()}@test.aidantsconnect.fr"


def snapshot(stack) -> dict:
    stack.use_store()
    from shared.store import Item

    return {(i.pk, i.sk): i for i in Item.scan()}


def new_items(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """{kind: {"with_ttl": n, "permanent": n}} of the items that appeared."""
    summary: dict[str, Counter] = {}
    for key, item in after.items():
        if key in before or getattr(item, "template", None) in SCHEDULER_TEMPLATES:
            continue
        kind = type(item)._attributes["kind"].get_discriminator(type(item)) or type(item).__name__
        summary.setdefault(kind, Counter())["with_ttl" if item.ttl else "permanent"] += 1
    return {kind: dict(counts) for kind, counts in summary.items()}


def all_at_once(count, call):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(call, range(count)))


def wait_for_mail(stack, address, subject, after):
    return stack.mail.wait_for(address, subject, after=after, timeout=60)


def link_token(stack, email):
    before = stack.mail.count()
    r = requests.post(stack.url + "/api/login", json={"email": email, "otp": stack.otp(email)}, timeout=10)
    assert r.status_code == 200, r.text
    return extract_link(Mailbox.text(stack.mail.wait_for(email, "connexion", after=before)), "/api/login/")


def test_items_left_by_a_thousand_anonymous_requests_of_each_kind(stack):
    known = stack.new_aidant()
    good = stack.otp(known)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    used_link = link_token(stack, known)
    assert requests.get(used_link, allow_redirects=False).status_code == 302
    draft_email, submitted_email = unique("brouillon"), unique("envoyee")
    draft = requests.post(stack.url + REQ, json=form(draft_email), timeout=10).json()
    submitted = requests.post(stack.url + REQ, json=form(submitted_email), timeout=10).json()
    mark = stack.mail.count()
    assert (
        requests.post(
            f"{stack.url}{REQ}/{submitted['id']}/submit", json={}, headers=auth(submitted["token"])
        ).status_code
        == 200
    )
    wait_for_mail(stack, submitted_email, "envoyée", mark)
    run = time.time_ns()

    kinds = {
        "POST /api/login, unknown addresses (all different)": lambda i: (
            requests.post(
                stack.url + "/api/login",
                json={"email": f"personne-{run}-{i}@nulle-part.fr", "otp": "000000"},
                timeout=30,
            ).status_code
        ),
        "POST /api/login, wrong codes for a known aidant": lambda i: (
            requests.post(stack.url + "/api/login", json={"email": known, "otp": wrong}, timeout=30).status_code
        ),
        "GET /api/login/{token}, forged links": lambda i: (
            requests.get(f"{stack.url}/api/login/{'F' * 40}{i:03d}", allow_redirects=False, timeout=30).status_code
        ),
        "GET /api/login/{token}, a used link": lambda i: (
            requests.get(used_link, allow_redirects=False, timeout=30).status_code
        ),
        "POST /api/logout, forged session cookie": lambda i: (
            requests.post(
                stack.url + "/api/logout", json={}, cookies={"ac_session": f"x.y.{'Z' * 40}{i:03d}"}, timeout=30
            ).status_code
        ),
        "GET /fc/callback, forged state": lambda i: (
            requests.get(
                stack.url + "/fc/callback",
                params={"state": f"forged-{i}", "code": "c"},
                allow_redirects=False,
                timeout=30,
            ).status_code
        ),
        "PUT accreditation draft (link holder)": lambda i: (
            requests.put(
                f"{stack.url}{REQ}/{draft['id']}",
                json=form(draft_email, "modifié"),
                headers=auth(draft["token"]),
                timeout=30,
            ).status_code
        ),
        "POST message on a draft (link holder)": lambda i: (
            requests.post(
                f"{stack.url}{REQ}/{draft['id']}/messages",
                json={"message": f"Bonjour {i}"},
                headers=auth(draft["token"]),
                timeout=30,
            ).status_code
        ),
        "POST message on a submitted request (link holder)": lambda i: (
            requests.post(
                f"{stack.url}{REQ}/{submitted['id']}/messages",
                json={"message": f"Bonjour {i}"},
                headers=auth(submitted["token"]),
                timeout=30,
            ).status_code
        ),
        "POST submit, the same draft": lambda i: (
            requests.post(
                f"{stack.url}{REQ}/{draft['id']}/submit", json={}, headers=auth(draft["token"]), timeout=30
            ).status_code
        ),
        "POST accreditation request, different addresses": lambda i: (
            requests.post(
                stack.url + REQ, json=form(f"demandeur-{run}-{i}@test.aidantsconnect.fr"), timeout=30
            ).status_code
        ),
    }
    figures = {}
    stack.use_store()
    from shared.config import settings
    from shared.store import RateCounter

    try:
        for name, call in kinds.items():
            before = snapshot(stack)
            mark = stack.mail.count()
            statuses = all_at_once(N, call)
            if name.startswith("POST submit"):
                wait_for_mail(stack, draft_email, "envoyée", mark)  # its outbox item, once sent, has a TTL
            if name.startswith("POST accreditation request"):
                deadline = time.time() + 120
                while stack.mail.count() < mark + statuses[201] and time.time() < deadline:
                    time.sleep(0.5)
            figures[name] = {
                "statuses": dict(sorted(statuses.items())),
                "new_items": new_items(before, snapshot(stack)),
            }
    finally:
        # The accreditation form's hourly allowance in all is this stack's: give it back.
        try:
            RateCounter.get(*RateCounter.key("habilitation-mail:all")).delete()
        except RateCounter.DoesNotExist:
            pass
    print("\n" + json.dumps(figures, ensure_ascii=False, indent=1))

    def permanent(name):
        return {k: v["permanent"] for k, v in figures[name]["new_items"].items() if v.get("permanent")}

    def expiring(name):
        return {k: v["with_ttl"] for k, v in figures[name]["new_items"].items() if v.get("with_ttl")}

    login_unknown, login_known = (
        "POST /api/login, unknown addresses (all different)",
        "POST /api/login, wrong codes for a known aidant",
    )
    assert figures[login_unknown]["statuses"] == {401: N}
    assert permanent(login_unknown) == {} and expiring(login_unknown) == {"login_throttle": N}
    assert figures[login_known]["statuses"] == {401: 5, 429: N - 5}
    assert permanent(login_known) == {} and expiring(login_known) == {"login_throttle": 1}
    for name in (
        "GET /api/login/{token}, forged links",
        "GET /api/login/{token}, a used link",
        "POST /api/logout, forged session cookie",
        "GET /fc/callback, forged state",
        "PUT accreditation draft (link holder)",
        "POST message on a draft (link holder)",
    ):
        assert figures[name]["new_items"] == {}, (name, figures[name])
    assert figures["POST message on a draft (link holder)"]["statuses"] == {409: N}
    limit = settings().habilitation_messages_per_request_per_day
    on_submitted = "POST message on a submitted request (link holder)"
    assert figures[on_submitted]["statuses"] == {201: limit, 429: N - limit}
    assert permanent(on_submitted) == {"habilitation_message": limit}
    assert expiring(on_submitted) == {"rate_counter": 1}
    submits = "POST submit, the same draft"
    assert figures[submits]["statuses"][200] == 1 and sum(figures[submits]["statuses"].values()) == N
    assert permanent(submits) == {"journal": 1} and expiring(submits) == {"outbox": 1}
    creations = "POST accreditation request, different addresses"
    created = figures[creations]["statuses"].get(201, 0)
    assert 0 < created <= settings().habilitation_requests_per_hour
    assert figures[creations]["statuses"] == {201: created, 429: N - created}
    assert permanent(creations) == {}
    # One expiring counter per address typed (+ the window in all, if it opened now).
    left = expiring(creations)
    assert N <= left.pop("rate_counter") <= N + 1
    assert left == {"habilitation_request": created, "outbox": created}


# -- the draft's TTL, in code --------------------------------------------------------------


def test_a_draft_expires_unless_submitted_and_an_edit_keeps_it_alive(stack):
    email = unique("ttl")
    created = requests.post(stack.url + REQ, json=form(email), timeout=10).json()
    url, headers = f"{stack.url}{REQ}/{created['id']}", auth(created["token"])
    stack.use_store()
    from shared.config import settings
    from shared.store import HabilitationRequest

    item = HabilitationRequest.get(*HabilitationRequest.key(created["id"]))
    days = settings().habilitation_draft_ttl_days
    assert abs(item.ttl - (time.time() + days * 86400)) < 60
    # An edit moves the expiry on.
    item.update(actions=[HabilitationRequest.ttl.set(int(time.time()) + 60)])
    assert requests.put(url, json=form(email, "modifié"), headers=headers).status_code == 200
    assert HabilitationRequest.get(*HabilitationRequest.key(created["id"])).ttl > time.time() + (days - 1) * 86400
    # Past its TTL (DynamoDB deletes late, DynamoDB Local never), the draft is gone.
    item.update(actions=[HabilitationRequest.ttl.set(int(time.time()) - 1)])
    for r in (
        requests.get(url, headers=headers),
        requests.put(url, json=form(email), headers=headers),
        requests.post(url + "/submit", json={}, headers=headers),
    ):
        assert r.status_code == 410 and r.json()["error"] == "draft_expired", r.text
        assert f"{days} jours" in r.json()["error_description"]


def test_a_submitted_request_is_kept(stack):
    email = unique("garde")
    created = requests.post(stack.url + REQ, json=form(email), timeout=10).json()
    r = requests.post(f"{stack.url}{REQ}/{created['id']}/submit", json={}, headers=auth(created["token"]))
    assert r.status_code == 200 and r.json()["status"] == "envoyee"
    stack.use_store()
    from shared.store import HabilitationRequest

    assert HabilitationRequest.get(*HabilitationRequest.key(created["id"])).ttl is None


def test_staff_do_not_see_expired_drafts(stack):
    email = stack.new_aidant(first_name="Sophie")
    stack.use_store()
    from shared import accounts
    from shared.store import Aidant, HabilitationRequest

    Aidant(*Aidant.key(accounts.find_aidant_by_email(email).id)).update(actions=[Aidant.is_staff.set(True)])
    staff = stack.login(requests.Session(), email)
    created = requests.post(stack.url + REQ, json=form(unique("perime")), timeout=10).json()
    queue = staff.get(stack.url + "/api/staff/habilitation/requests", params={"status": "brouillon"}).json()
    assert created["id"] in [q["id"] for q in queue["requests"]]
    HabilitationRequest(*HabilitationRequest.key(created["id"])).update(
        actions=[HabilitationRequest.ttl.set(int(time.time()) - 1)]
    )
    queue = staff.get(stack.url + "/api/staff/habilitation/requests", params={"status": "brouillon"}).json()
    assert created["id"] not in [q["id"] for q in queue["requests"]]
    assert staff.get(f"{stack.url}/api/staff/habilitation/requests/{created['id']}").status_code == 410


def test_the_draft_steps_are_log_lines_not_journal_entries(stack):
    email = unique("journal")
    created = requests.post(stack.url + REQ, json=form(email), timeout=10).json()
    requests.put(f"{stack.url}{REQ}/{created['id']}", json=form(email, "modifié"), headers=auth(created["token"]))
    events = [(e["event"], e.get("request")) for e in stack.log_events("habilitation")]
    assert ("habilitation_request_created", created["id"]) in events
    assert ("habilitation_request_updated", created["id"]) in events
    assert email not in json.dumps(stack.log_events("habilitation"))  # no address in the logs


@pytest.mark.parametrize("field", ["code", "otp", "token", "email", "cookie"])
def test_a_log_line_cannot_carry_a_secret(stack, field):
    stack.use_store()
    from shared import anonymous

    with pytest.raises(ValueError):
        anonymous.log_event("login_refused", **{field: "secret"})
