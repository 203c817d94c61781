"""Creating a mandate, step by step (the "Créer ou renouveler un mandat" screens):

1. ``create`` — the aidant's choices become a short-lived draft, and a
   FranceConnect login is started for it (``start_identification``);
2. ``identify`` — FranceConnect's callback: the state is consumed once, the login
   is completed and verified, the usager is created or refreshed and attached to
   the draft;
3. ``recap`` — what the usager is about to agree to;
4. ``sign`` — the aidant's TOTP, then the mandate in one ``TransactWrite`` that also
   marks the draft signed (condition: not signed yet, not expired, same usager), so
   a draft gives one mandate even under concurrent signatures.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from . import crypto, documents, errors, franceconnect, journal, mandates, notifications, otp
from .config import settings
from .demarches import as_json as demarche_json
from .sessions import Caller
from .store import FranceConnectState, MandateDraft, now, writes

log = logging.getLogger("aidants_connect.drafts")

DRAFT_TTL_SECONDS = 30 * 60  # FranceConnect login plus reading the recap to the usager
STATE_TTL_SECONDS = 10 * 60
TTL_SLACK_SECONDS = 24 * 3600  # DynamoDB deletes later; expiry is checked in code anyway
MAX_REFERENCE_LENGTH = 500

USAGER_IDENTIFIED = "usager_identified"

# Front-end pages (DESIGN.md §3).
DRAFT_PAGE = "/mandats/nouveau/"
RECAP_PAGE = "/mandats/recapitulatif/"


# -- 1. the draft ---------------------------------------------------------------------

def _remote_consent(data: dict) -> dict:
    consent = data.get("remote_consent")
    if not isinstance(consent, dict):
        raise errors.BadRequest("Pour un mandat à distance, indiquez comment l'usager a donné son "
                                "consentement.", code="remote_consent_required")
    method = consent.get("method")
    if not isinstance(method, str) or method not in documents.CONSENT_METHODS:
        raise errors.BadRequest("Le moyen de consentement doit être « sms », « email » ou « other ».",
                                code="invalid_remote_consent")
    reference = consent.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        raise errors.BadRequest("Indiquez la référence de la preuve de consentement (numéro, date, "
                                "extrait du message…).", code="invalid_remote_consent")
    if len(reference.strip()) > MAX_REFERENCE_LENGTH:
        raise errors.BadRequest("La référence du consentement est trop longue.", code="invalid_remote_consent")
    return {"method": method, "reference": reference.strip()}


def create(caller: Caller, data: dict) -> MandateDraft:
    demarches = mandates.validate_demarches(data.get("demarches"))
    duration = data.get("duration")
    if duration not in mandates.DURATIONS:
        raise errors.BadRequest("Choisissez la durée du mandat : « short », « six_months » ou « long ».",
                                code="invalid_duration")
    is_remote = data.get("is_remote", False)
    if not isinstance(is_remote, bool):
        raise errors.BadRequest("Le champ « is_remote » doit valoir true ou false.", code="invalid_request")
    consent = _remote_consent(data) if is_remote else None
    draft_id = crypto.new_id()
    expires_at = int(time.time()) + DRAFT_TTL_SECONDS
    draft = MandateDraft(*MandateDraft.key(draft_id), id=draft_id, aidant_id=caller.aidant_id,
                         structure_id=caller.structure_id, demarches=demarches, duration=duration,
                         is_remote=is_remote, remote_consent=consent, expires_at=expires_at,
                         ttl=expires_at + TTL_SLACK_SECONDS, created_at=now())
    draft.save(condition=MandateDraft.pk.does_not_exist())
    return draft


def load(caller: Caller, draft_id: str) -> MandateDraft:
    """The caller's own draft, for the structure they act for now; anybody else's is
    answered like a missing one.

    The aidant's own draft started for another of their structures (they switched
    since, maybe in another tab) is a 409 ``structure_switched`` naming it: it can
    be read, previewed or signed only while acting for that structure again, so a
    mandate is never signed for a structure other than the one the aidant sees."""
    try:
        draft = MandateDraft.get(*MandateDraft.key(draft_id))
    except DoesNotExist:
        raise errors.NotFound("Ce projet de mandat est introuvable.", code="draft_not_found")
    if draft.aidant_id != caller.aidant_id:
        raise errors.NotFound("Ce projet de mandat est introuvable.", code="draft_not_found")
    if draft.structure_id != caller.structure_id:
        _, structure = mandates.usager_and_structure(None, draft.structure_id)
        name = structure.name if structure else ""
        raise errors.Conflict(
            f"Ce projet de mandat a été commencé pour la structure « {name} », et vous agissez maintenant pour "
            "une autre structure. Revenez à cette structure pour le poursuivre.", code="structure_switched",
            extra={"structure": {"id": draft.structure_id, "name": name}})
    return draft


def _check_open(draft: MandateDraft) -> None:
    if draft.signed_at is not None:
        # Names the mandate: a signature whose answer was lost (a 503 while the store
        # hung) is found by the retry, which the front-end then shows.
        raise errors.Conflict("Ce mandat a déjà été signé.", code="draft_already_signed",
                              extra={"mandate": draft.mandate_id})
    if draft.expires_at <= time.time():
        raise errors.Gone("Ce projet de mandat a expiré. Recommencez la création du mandat.",
                          code="draft_expired")


def start_identification(draft: MandateDraft) -> str:
    """A FranceConnect authorization URL for this draft, with a fresh state and nonce."""
    _check_open(draft)
    state, nonce = crypto.new_token(), crypto.new_token()
    expires_at = min(int(time.time()) + STATE_TTL_SECONDS, int(draft.expires_at))
    item = FranceConnectState(*FranceConnectState.key(crypto.keyed_hash(state, "fc_state")),
                              draft_id=draft.id, aidant_id=draft.aidant_id,
                              nonce_hash=crypto.keyed_hash(nonce, "fc_nonce"), expires_at=expires_at,
                              ttl=expires_at + TTL_SLACK_SECONDS)
    try:
        url = franceconnect.authorization_url(state, nonce)
    except franceconnect.FranceConnectError as exc:
        log.warning("FranceConnect unavailable: %s", exc.reason)
        raise errors.ServiceUnavailable("FranceConnect est momentanément indisponible. Réessayez dans "
                                        "quelques instants.", code="franceconnect_unavailable")
    writes.put_new(item)  # a random key: False could only be our own re-sent copy
    return url


# -- 2. FranceConnect's callback ----------------------------------------------------------

@dataclass
class CallbackOutcome:
    draft_id: str | None
    error: str | None = None
    franceconnect_id_token: str | None = None  # set once FranceConnect has identified the usager

    def location(self) -> str:
        base = settings().frontend_url
        if self.franceconnect_id_token:
            # Through FranceConnect's logout first, whatever happened next on our side:
            # it sends the browser back to one of two registered addresses with
            # ``state`` = the draft (then ``.<error>`` on the draft page).
            if self.error is None:
                target, state = RECAP_PAGE, self.draft_id
            else:
                target, state = DRAFT_PAGE, f"{self.draft_id}.{self.error}" if self.draft_id else self.error
            logout = franceconnect.logout_url(self.franceconnect_id_token, base + target, state)
            if logout:
                return logout
        if self.error is None:
            return f"{base}{RECAP_PAGE}?draft={self.draft_id}"
        query = f"draft={self.draft_id}&error={self.error}" if self.draft_id else f"error={self.error}"
        return f"{base}{DRAFT_PAGE}?{query}"


def _consume_state(state: str) -> FranceConnectState:
    try:
        item = FranceConnectState.get(*FranceConnectState.key(crypto.keyed_hash(state, "fc_state")))
    except DoesNotExist:
        raise franceconnect.FranceConnectError(franceconnect.FAILED, "unknown state")
    return item


def identify(query: dict, authenticate) -> CallbackOutcome:
    """Handle ``/fc/callback``. ``authenticate`` returns the aidant of the browser's
    session: the state must have been issued to that same aidant (login CSRF)."""
    state = query.get("state")
    if not isinstance(state, str) or not state or len(state) > 256:
        return CallbackOutcome(None, franceconnect.FAILED)
    try:
        item = _consume_state(state)
    except franceconnect.FranceConnectError:
        return CallbackOutcome(None, franceconnect.FAILED)
    outcome = CallbackOutcome(item.draft_id)
    try:
        caller = authenticate()
    except errors.ApiError:
        outcome.error = "session_expired"
        return outcome
    if caller.aidant_id != item.aidant_id:
        outcome.draft_id, outcome.error = None, franceconnect.FAILED
        return outcome
    now_s = int(time.time())
    if not writes.update(item, [FranceConnectState.used_at.set(now_s)],
                               FranceConnectState.used_at.does_not_exist() & (FranceConnectState.expires_at > now_s)):
        outcome.error = "franceconnect_expired"  # replayed callback or login too slow
        return outcome
    if query.get("error"):
        # FranceConnect sends the user back with an OAuth error (RFC 6749 §4.1.2.1).
        log.info("FranceConnect answered %s: %s", query.get("error"), query.get("error_description"))
        outcome.error = franceconnect.CANCELLED if query["error"] == "access_denied" else franceconnect.FAILED
        return outcome
    code = query.get("code")
    if not isinstance(code, str) or not code or len(code) > 1024:
        outcome.error = franceconnect.FAILED
        return outcome
    try:
        identity = franceconnect.complete_login(code, item.nonce_hash)
        outcome.franceconnect_id_token = identity.id_token
        usager = mandates.upsert_usager(identity.sub, identity.claims)
    except franceconnect.FranceConnectError as exc:
        log.warning("FranceConnect login refused: %s", exc.reason)
        outcome.error = exc.code
        return outcome
    except errors.BadRequest:
        outcome.error = franceconnect.FAILED
        return outcome
    try:
        MandateDraft(*MandateDraft.key(item.draft_id)).update(
            actions=[MandateDraft.usager_id.set(usager.id), MandateDraft.identified_at.set(now())],
            condition=MandateDraft.signed_at.does_not_exist() & (MandateDraft.expires_at > now_s) &
            (MandateDraft.aidant_id == caller.aidant_id))
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        outcome.error = "draft_expired"
        return outcome
    journal.record(USAGER_IDENTIFIED, aidant_id=caller.aidant_id, structure_id=caller.structure_id,
                   usager_id=usager.id, details={"draft": item.draft_id})
    return outcome


# -- 3. the recap ---------------------------------------------------------------------------

def recap(caller: Caller, draft: MandateDraft) -> dict:
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    structure_name = structure.name if structure else ""
    expired = draft.expires_at <= time.time()
    status = ("signed" if draft.signed_at is not None else "expired" if expired else
              "ready" if usager is not None else "awaiting_identification")
    consent = draft.remote_consent.as_dict() if draft.remote_consent else None
    return {
        "draft": draft.id,
        "status": status,
        "mandate": draft.mandate_id,
        "usager": (mandates.usager_json(usager) | {"full_name": usager.full_name}) if usager else None,
        "structure": {"id": draft.structure_id, "name": structure_name},
        "aidant": {"id": caller.aidant_id, "name": caller.aidant.full_name},
        "demarches": [demarche_json(k) for k in draft.demarches],
        "duration": draft.duration,
        "duration_label": documents.DURATION_LABELS[draft.duration],
        # The end date if signed now; the signature computes the real one.
        "expires_at": mandates.iso(mandates.expiry_for(draft.duration, now())),
        "is_remote": bool(draft.is_remote),
        "remote_consent": dict(consent) if consent else None,
        "mentions": documents.mentions(structure_name),
        "draft_expires_at": mandates.iso(datetime.fromtimestamp(int(draft.expires_at), tz=timezone.utc)),
    }


def printable(caller: Caller, draft: MandateDraft) -> str:
    """"Voir le projet de mandat" (``GET /api/mandates/drafts/{draft}/print``): from
    the recap, the aidant and the usager read the mandate as it will be printed,
    marked as a draft not yet signed (``documents.render_draft``). Only an open draft
    whose usager FranceConnect identified: a signed one has its real mandate."""
    _check_open(draft)
    if draft.usager_id is None:
        raise errors.Conflict("L'usager ne s'est pas encore identifié avec FranceConnect.",
                              code="usager_not_identified")
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    if usager is None:
        raise errors.Conflict("L'usager de ce projet de mandat n'existe plus.", code="draft_invalid")
    return documents.render_draft(draft, usager, structure, caller.aidant.full_name)


# -- 4. the signature -------------------------------------------------------------------------

def _must_be_true(data: dict, name: str, message: str, code: str) -> None:
    if data.get(name) is not True:
        raise errors.BadRequest(message, code=code)


def sign(caller: Caller, data: dict) -> mandates.Mandate:
    draft_id = data.get("draft")
    if not isinstance(draft_id, str) or not draft_id or len(draft_id) > 64:
        raise errors.BadRequest("Le champ « draft » est obligatoire.", code="invalid_request")
    code = data.get("otp")
    if not isinstance(code, str) or not code.strip():
        raise errors.BadRequest("Merci d'indiquer le code à 6 chiffres.", code="invalid_request")
    draft = load(caller, draft_id)
    _check_open(draft)
    if draft.usager_id is None:
        raise errors.Conflict("L'usager ne s'est pas encore identifié avec FranceConnect.",
                              code="usager_not_identified")
    _must_be_true(data, "usager_informed", "Confirmez avoir informé l'usager (case à cocher).",
                  "usager_not_informed")
    if draft.is_remote:
        _must_be_true(data, "remote_consent_kept",
                      "Confirmez avoir obtenu et conservé le consentement écrit de l'usager (case à cocher).",
                      "remote_consent_not_kept")
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    if usager is None or structure is None:
        raise errors.Conflict("L'usager ou la structure de ce projet de mandat n'existe plus.",
                              code="draft_invalid")
    # Only now, with a signable draft, spend the aidant's code (single use).
    otp.check_code_for(caller.aidant_id, code, action="sign_mandate")
    consent = draft.remote_consent.as_dict() if draft.remote_consent else None
    spec = mandates.NewMandate(
        structure_id=draft.structure_id, usager=usager, demarches=list(draft.demarches),
        duration=draft.duration, is_remote=bool(draft.is_remote), remote_consent=consent,
        aidant_id=caller.aidant_id, aidant_name=caller.aidant.full_name,
        text_snapshot=documents.mentions_text(structure.name))
    now_s = int(time.time())
    notice = None

    def in_the_same_transaction(mandate: mandates.Mandate) -> list:
        # The draft is consumed (and linked to its mandate) and the usager's e-mail is
        # queued in the mandate's own transaction: a draft gives one mandate, and a
        # signed mandate always has its notification.
        nonlocal notice
        notice = notifications.mandate_created_item(mandate, usager, structure)
        consume_draft = ("update", MandateDraft(*MandateDraft.key(draft.id)), {
            "actions": [MandateDraft.signed_at.set(now()), MandateDraft.mandate_id.set(mandate.id)],
            "condition": MandateDraft.signed_at.does_not_exist() & (MandateDraft.expires_at > now_s) &
            (MandateDraft.usager_id == draft.usager_id) & (MandateDraft.aidant_id == caller.aidant_id),
        })
        return [consume_draft] + ([notifications.operation(notice)] if notice else [])

    try:
        mandate = mandates.create(spec, extra=in_the_same_transaction)
    except TransactWriteError as exc:
        if not mandates.is_conflict(exc):
            raise
        raise errors.Conflict("Ce mandat a déjà été signé, ou il a changé pendant la signature. "
                              "Rechargez la page.", code="draft_already_signed")
    notifications.kick(notice)
    return mandate
