"""'Voir le projet de mandat': the printable draft the aidant and the usager read from
the recap before signing (GET /api/mandates/drafts/{draft}/print)."""

from __future__ import annotations

import re
import time
from html import unescape

import requests

from tests.integration.mandate_flow import new_aidant


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_draft_reads_as_the_mandate_will_be_printed_marked_as_not_signed(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["social", "papiers"], duration="six_months", remote=True)
    aidant.identify(draft["franceconnect_url"], "angela")
    r = aidant.get(f"/api/mandates/drafts/{draft['draft']}/print")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    # Like the printable mandate: unframeable, print CSS, its print button wired by a script.
    assert r.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert '<html lang="fr">' in r.text and "@media print" in r.text and "/js/print.js" in r.text
    assert '<body class="is-draft">' in r.text  # the watermark on every printed page
    text = _text(r.text)
    for expected in (
        "Projet de mandat Aidants Connect",
        "Projet de mandat, non signé",
        "non signé",
        "Angela Claire Louise DUBOIS",
        "24 août 1962",
        "Maison France Services de Test",
        "Social - Santé",
        "Papiers - Citoyenneté - Élections",
        "Durée 6 mois",
        "s'il est signé aujourd'hui",
        "Mandat réalisé à distance",
        "SMS reçu le 3 mars à 10h12",
        "Les aidants habilités par Maison France Services de Test doivent",
        "Aidant qui signera Test Aidant",
        f"Projet n° {draft['draft']}",
        "Ce document n'est pas un mandat",
    ):
        assert expected in text, expected
    # Only a signed mandate has a verification reference.
    assert "Référence de vérification" not in text and not re.search(r"AC-[A-Z0-9]{4}-", text)
    recap = aidant.get(f"/api/mandates/drafts/{draft['draft']}").json()
    assert recap["expires_at"][:4] in text

    # Once signed, the draft has its mandate: the preview is over.
    assert aidant.sign(draft["draft"], remote=True).status_code == 201
    r = aidant.get(f"/api/mandates/drafts/{draft['draft']}/print")
    assert r.status_code == 409 and r.json()["error"] == "draft_already_signed" and r.json()["mandate"]


def test_only_the_aidants_own_identified_open_draft_can_be_previewed(stack):
    aidant = new_aidant(stack)
    draft = aidant.new_draft(["papiers"])
    path = f"/api/mandates/drafts/{draft['draft']}/print"
    r = aidant.get(path)
    assert r.status_code == 409 and r.json()["error"] == "usager_not_identified"
    aidant.identify(draft["franceconnect_url"], "pierre")
    assert aidant.get(path).status_code == 200
    colleague = new_aidant(stack, aidant.structure_id)
    r = colleague.get(path)
    assert r.status_code == 404 and r.json()["error"] == "draft_not_found"
    assert requests.get(stack.url + path, timeout=10).status_code == 401
    assert aidant.get("/api/mandates/drafts/nope/print").status_code == 404
    stack.use_store()
    from shared.store import MandateDraft

    MandateDraft(*MandateDraft.key(draft["draft"])).update(actions=[MandateDraft.expires_at.set(int(time.time()) - 1)])
    r = aidant.get(path)
    assert r.status_code == 410 and r.json()["error"] == "draft_expired"
