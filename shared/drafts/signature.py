"""Steps 3 and 4: what the usager is about to agree to (the recap, and the draft as
it will be printed), then the signature: the
aidant's TOTP, then the mandate in one ``TransactWrite`` that also marks the draft
signed (condition: not signed yet, not expired, same usager), so a draft gives one
mandate even under concurrent signatures."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from .. import documents, errors, mandates, notifications, otp
from .. import error_codes as codes
from ..demarches import as_json as demarche_json
from ..sessions import Caller
from ..store import MandateDraft, Operation, Structure, Usager, now
from .draft import check_open, load


def printable(caller: Caller, draft: MandateDraft) -> str:
    """ "Voir le projet de mandat" (``GET /api/mandates/drafts/{draft}/print``): from
    the recap, the aidant and the usager read the mandate as it will be printed,
    marked as a draft not yet signed (``documents.render_draft``). Only an open draft
    whose usager FranceConnect identified: a signed one has its real mandate."""
    check_open(draft)
    if draft.usager_id is None:
        raise errors.Conflict(
            "L'usager ne s'est pas encore identifié avec FranceConnect.", code=codes.USAGER_NOT_IDENTIFIED
        )
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    if usager is None:
        raise errors.Conflict("L'usager de ce projet de mandat n'existe plus.", code=codes.DRAFT_INVALID)
    return documents.render_draft(draft, usager, structure, caller.aidant.full_name)


def recap(caller: Caller, draft: MandateDraft) -> dict:
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    structure_name = structure.name if structure else ""
    expired = draft.expires_at <= time.time()
    status = (
        "signed"
        if draft.signed_at is not None
        else "expired"
        if expired
        else "ready"
        if usager is not None
        else "awaiting_identification"
    )
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


def _must_be_true(data: dict, name: str, message: str, code: str) -> None:
    if data.get(name) is not True:
        raise errors.BadRequest(message, code=code)


def sign(caller: Caller, data: dict) -> mandates.Mandate:
    draft_id, code = _signature_request(data)
    draft = load(caller, draft_id)
    usager, structure = _signable(draft, data)
    # Only now, with a signable draft, spend the aidant's code (single use).
    otp.check_code_for(caller.aidant_id, code, action="sign_mandate")
    consent = draft.remote_consent.as_dict() if draft.remote_consent else None
    spec = mandates.NewMandate(
        structure_id=draft.structure_id,
        usager=usager,
        demarches=list(draft.demarches),
        duration=draft.duration,
        is_remote=bool(draft.is_remote),
        remote_consent=consent,
        aidant_id=caller.aidant_id,
        aidant_name=caller.aidant.full_name,
        text_snapshot=documents.mentions_text(structure.name),
    )
    notice = None

    def in_the_same_transaction(mandate: mandates.Mandate) -> list[Operation]:
        # The draft is consumed (and linked to its mandate) and the usager's e-mail is
        # queued in the mandate's own transaction: a draft gives one mandate, and a
        # signed mandate always has its notification.
        nonlocal notice
        notice = notifications.mandate_created_item(mandate, usager, structure)
        return [_consumption(draft, mandate, caller)] + ([notifications.operation(notice)] if notice else [])

    mandate = mandates.create(
        spec,
        extra=in_the_same_transaction,
        conflict=errors.Conflict(
            "Ce mandat a déjà été signé, ou il a changé pendant la signature. Rechargez la page.",
            code=codes.DRAFT_ALREADY_SIGNED,
        ),
    )
    notifications.kick(notice)
    return mandate


def _signature_request(data: dict) -> tuple[str, str]:
    draft_id = data.get("draft")
    if not isinstance(draft_id, str) or not draft_id or len(draft_id) > 64:
        raise errors.BadRequest("Le champ « draft » est obligatoire.", code=codes.INVALID_REQUEST)
    code = data.get("otp")
    if not isinstance(code, str) or not code.strip():
        raise errors.BadRequest("Merci d'indiquer le code à 6 chiffres.", code=codes.INVALID_REQUEST)
    return draft_id, code


def _signable(draft: MandateDraft, data: dict) -> tuple[Usager, Structure]:
    """The draft's usager and structure, once everything the signature needs is there."""
    check_open(draft)
    if draft.usager_id is None:
        raise errors.Conflict(
            "L'usager ne s'est pas encore identifié avec FranceConnect.", code=codes.USAGER_NOT_IDENTIFIED
        )
    _must_be_true(data, "usager_informed", "Confirmez avoir informé l'usager (case à cocher).", "usager_not_informed")
    if draft.is_remote:
        _must_be_true(
            data,
            "remote_consent_kept",
            "Confirmez avoir obtenu et conservé le consentement écrit de l'usager (case à cocher).",
            "remote_consent_not_kept",
        )
    usager, structure = mandates.usager_and_structure(draft.usager_id, draft.structure_id)
    if usager is None or structure is None:
        raise errors.Conflict(
            "L'usager ou la structure de ce projet de mandat n'existe plus.", code=codes.DRAFT_INVALID
        )
    return usager, structure


def _consumption(draft: MandateDraft, mandate: mandates.Mandate, caller: Caller) -> Operation:
    """The draft marked signed by ``mandate``: only once, unexpired, for the usager and
    the aidant it was read with."""
    now_s = int(time.time())
    return (
        "update",
        MandateDraft(*MandateDraft.key(draft.id)),
        {
            "actions": [MandateDraft.signed_at.set(now()), MandateDraft.mandate_id.set(mandate.id)],
            "condition": MandateDraft.signed_at.does_not_exist()
            & (MandateDraft.expires_at > now_s)
            & (MandateDraft.usager_id == draft.usager_id)
            & (MandateDraft.aidant_id == caller.aidant_id),
        },
    )
