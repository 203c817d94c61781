"""Step 1: the aidant's choices become a short-lived draft, and a FranceConnect
login is started for it."""

from __future__ import annotations

import logging
import time

from .. import crypto, documents, errors, franceconnect, mandates
from .. import error_codes as codes
from ..sessions import Caller
from ..store import FranceConnectState, MandateDraft, now, writes

log = logging.getLogger("aidants_connect.drafts")

DRAFT_TTL_SECONDS = 30 * 60  # FranceConnect login plus reading the recap to the usager
STATE_TTL_SECONDS = 10 * 60
TTL_SLACK_SECONDS = 24 * 3600  # DynamoDB deletes later; expiry is checked in code anyway
MAX_REFERENCE_LENGTH = 500


def _remote_consent(data: dict) -> dict:
    consent = data.get("remote_consent")
    if not isinstance(consent, dict):
        raise errors.BadRequest(
            "Pour un mandat à distance, indiquez comment l'usager a donné son consentement.",
            code=codes.REMOTE_CONSENT_REQUIRED,
        )
    method = consent.get("method")
    if not isinstance(method, str) or method not in documents.CONSENT_METHODS:
        raise errors.BadRequest(
            "Le moyen de consentement doit être « sms », « email » ou « other ».", code=codes.INVALID_REMOTE_CONSENT
        )
    reference = consent.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        raise errors.BadRequest(
            "Indiquez la référence de la preuve de consentement (numéro, date, extrait du message…).",
            code=codes.INVALID_REMOTE_CONSENT,
        )
    if len(reference.strip()) > MAX_REFERENCE_LENGTH:
        raise errors.BadRequest("La référence du consentement est trop longue.", code=codes.INVALID_REMOTE_CONSENT)
    return {"method": method, "reference": reference.strip()}


def create(caller: Caller, data: dict) -> MandateDraft:
    demarches = mandates.validate_demarches(data.get("demarches"))
    duration = data.get("duration")
    if duration not in mandates.DURATIONS:
        raise errors.BadRequest(
            "Choisissez la durée du mandat : « short », « six_months » ou « long ».", code=codes.INVALID_DURATION
        )
    is_remote = data.get("is_remote", False)
    if not isinstance(is_remote, bool):
        raise errors.BadRequest("Le champ « is_remote » doit valoir true ou false.", code=codes.INVALID_REQUEST)
    consent = _remote_consent(data) if is_remote else None
    draft_id = crypto.new_id()
    expires_at = int(time.time()) + DRAFT_TTL_SECONDS
    draft = MandateDraft(
        *MandateDraft.key(draft_id),
        id=draft_id,
        aidant_id=caller.aidant_id,
        structure_id=caller.structure_id,
        demarches=demarches,
        duration=duration,
        is_remote=is_remote,
        remote_consent=consent,
        expires_at=expires_at,
        ttl=expires_at + TTL_SLACK_SECONDS,
        created_at=now(),
    )
    writes.put_new(draft)  # a random key: False could only be our own re-sent copy
    return draft


def load(caller: Caller, draft_id: str) -> MandateDraft:
    """The caller's own draft, for the structure they act for now; anybody else's is
    answered like a missing one.

    The aidant's own draft started for another of their structures (they switched
    since, maybe in another tab) is a 409 ``structure_switched`` naming it: it can
    be read, previewed or signed only while acting for that structure again, so a
    mandate is never signed for a structure other than the one the aidant sees."""
    draft = MandateDraft.find(draft_id)
    if draft is None or draft.aidant_id != caller.aidant_id:
        raise errors.NotFound("Ce projet de mandat est introuvable.", code=codes.DRAFT_NOT_FOUND)
    if draft.structure_id != caller.structure_id:
        _, structure = mandates.usager_and_structure(None, draft.structure_id)
        name = structure.name if structure else ""
        raise errors.Conflict(
            f"Ce projet de mandat a été commencé pour la structure « {name} », et vous agissez maintenant pour "
            "une autre structure. Revenez à cette structure pour le poursuivre.",
            code=codes.STRUCTURE_SWITCHED,
            extra={"structure": {"id": draft.structure_id, "name": name}},
        )
    return draft


def check_open(draft: MandateDraft) -> None:
    if draft.signed_at is not None:
        # Names the mandate: a signature whose answer was lost (a 503 while the store
        # hung) is found by the retry, which the front-end then shows.
        raise errors.Conflict(
            "Ce mandat a déjà été signé.", code=codes.DRAFT_ALREADY_SIGNED, extra={"mandate": draft.mandate_id}
        )
    if draft.expires_at <= time.time():
        raise errors.Gone("Ce projet de mandat a expiré. Recommencez la création du mandat.", code=codes.DRAFT_EXPIRED)


def start_identification(draft: MandateDraft) -> str:
    """A FranceConnect authorization URL for this draft, with a fresh state and nonce."""
    check_open(draft)
    state, nonce = crypto.new_token(), crypto.new_token()
    expires_at = min(int(time.time()) + STATE_TTL_SECONDS, int(draft.expires_at))
    item = FranceConnectState(
        *FranceConnectState.key(crypto.keyed_hash(state, "fc_state")),
        draft_id=draft.id,
        aidant_id=draft.aidant_id,
        nonce_hash=crypto.keyed_hash(nonce, "fc_nonce"),
        expires_at=expires_at,
        ttl=expires_at + TTL_SLACK_SECONDS,
    )
    try:
        url = franceconnect.authorization_url(state, nonce)
    except franceconnect.FranceConnectError as exc:
        log.warning("FranceConnect unavailable: %s", exc.reason)
        raise errors.ServiceUnavailable(
            "FranceConnect est momentanément indisponible. Réessayez dans quelques instants.",
            code=codes.FRANCECONNECT_UNAVAILABLE,
        ) from exc
    writes.put_new(item)  # a random key: False could only be our own re-sent copy
    return url
