"""An accreditation request as its requester files, reads and edits it, and how
staff and requester read it: one Query on its partition (``load``), a view of it."""

from __future__ import annotations

import time

from .. import anonymous, crypto, errors, notifications, ratelimit
from .. import error_codes as codes
from ..config import settings
from ..store import HabilitationMessage, HabilitationRequest, now, transaction, writes
from ..store.habilitation import Person
from .forms import Form
from .rules import (
    BROUILLON,
    DECISIONS,
    EDITABLE,
    MAIL_CREATED,
    REQUEST_CREATED,
    REQUEST_UPDATED,
    STATUS_LABELS,
    STRUCTURE_TYPES,
)


def _person_view(p: Person) -> dict:
    return {
        "first_name": p.first_name,
        "last_name": p.last_name,
        "email": p.email,
        "profession": p.profession,
        "phone": p.phone,
        "aidant_id": p.aidant_id,
    }


def iso(moment) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def request_view(req: HabilitationRequest, messages: list[HabilitationMessage], for_staff: bool) -> dict:
    view: dict[str, object] = {
        "id": req.id,
        "status": req.status,
        "status_label": STATUS_LABELS[req.status],
        "siret": req.siret,
        "name": req.name,
        "address": req.address,
        "structure_type": req.structure_type,
        "structure_type_label": STRUCTURE_TYPES.get(req.structure_type),
        "referent": _person_view(req.referent),
        "referent_is_aidant": bool(req.referent_is_aidant),
        "aidants": [_person_view(p) for p in req.aidants or []],
        "structure_id": req.structure_id,
        "created_at": iso(req.created_at),
        "submitted_at": iso(req.submitted_at),
        "updated_at": iso(req.updated_at),
        "decided_at": iso(req.decided_at),
        "editable": req.status in EDITABLE,
        "messages": [{"author": m.author, "author_name": m.author_name, "text": m.text, "at": m.at} for m in messages],
    }
    if for_staff:
        view["decisions"] = [name for name, (sources, _, _) in DECISIONS.items() if req.status in sources]
        view["last_message_by"] = req.last_message_by
    return view


def _draft_ttl() -> int:
    return int(time.time()) + settings().habilitation_draft_ttl_days * 24 * 3600


def expired(req: HabilitationRequest) -> bool:
    """A draft past its TTL, which DynamoDB deletes late (days) or never (locally)."""
    return req.status == BROUILLON and req.ttl is not None and int(req.ttl) <= time.time()


def load(request_id: str) -> tuple[HabilitationRequest, list[HabilitationMessage]]:
    """The request and its thread: one Query on its partition. An expired draft is
    gone (410), for its requester and for staff alike."""
    if not isinstance(request_id, str) or len(request_id) > 64:
        raise errors.NotFound("Demande introuvable.")
    req, messages = HabilitationRequest.with_messages(request_id)
    if req is None:
        raise errors.NotFound("Demande introuvable.")
    if expired(req):
        raise errors.Gone(
            f"Ce brouillon a expiré : il n'a pas été envoyé dans les "
            f"{settings().habilitation_draft_ttl_days} jours qui ont suivi sa dernière modification. "
            "Déposez une nouvelle demande.",
            code=codes.DRAFT_EXPIRED,
        )
    return req, messages


# -- requester ----------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer ") :].strip()
    return token if 0 < len(token) <= 128 else None


def as_requester(request_id: str, token: str | None) -> tuple[HabilitationRequest, list[HabilitationMessage]]:
    """The request the link opens; a wrong token answers like an unknown request."""
    if not token:
        raise errors.Unauthorized("Ouvrez le lien reçu par e-mail pour suivre votre demande.", code=codes.MISSING_TOKEN)
    req, messages = load(request_id)
    if not crypto.constant_time_equal(crypto.keyed_hash(token, "habilitation"), req.access_hash):
        raise errors.NotFound("Demande introuvable.")
    return req, messages


def stale() -> errors.Conflict:
    """A write that found the request changed since it was read (the other party)."""
    return errors.Conflict("La demande a changé entre-temps. Rechargez la page.", code=codes.STALE)


def follow_link(req: HabilitationRequest) -> str:
    token = crypto.unseal(req.sealed_token, req.pk)
    return f"{settings().frontend_url}/habilitation/suivi/?demande={req.id}#{token}"


def mail(
    template: str,
    req: HabilitationRequest,
    link: str,
    *,
    ttl: int | None = None,
    deliver_by: int | None = None,
    **context,
):
    """The outbox item of an e-mail to the requester, for the caller's transaction."""
    return notifications.new_item(
        template,
        req.referent.email,
        {
            "first_name": req.referent.first_name,
            "structure_name": req.name,
            "link": link,
            "status": req.status,
            "status_label": STATUS_LABELS[req.status],
            **context,
        },
        ttl=ttl,
        deliver_by=deliver_by,
    )


def _take_mail_allowance(email: str) -> None:
    """Anyone may file a request, and filing one e-mails the address typed: without
    a limit, this form would send our e-mails to any address, as often as asked.
    ``email`` is in normal form (``shared.emails``): its variants share one allowance."""
    cfg = settings()
    busy = "Trop de demandes ont été déposées{}. Réessayez plus tard."
    ratelimit.take_for_address(
        "habilitation-mail",
        email,
        cfg.habilitation_requests_per_email_per_day,
        cfg.habilitation_requests_per_hour,
        busy,
    )


def create(form: Form) -> dict:
    """A draft request, and the e-mail that carries its link. Returns the token too:
    the page that created it goes straight on to it."""
    _take_mail_allowance(form.referent.email)
    request_id = crypto.new_id()
    token = crypto.new_token()
    pk, sk = HabilitationRequest.key(request_id)
    at = now()
    ttl = _draft_ttl()
    req = HabilitationRequest(
        pk=pk,
        sk=sk,
        id=request_id,
        status=BROUILLON,
        access_hash=crypto.keyed_hash(token, "habilitation"),
        sealed_token=crypto.seal(token, pk),
        siret=form.siret,
        name=form.name,
        address=form.address,
        structure_type=form.structure_type,
        referent=form.referent,
        referent_is_aidant=form.referent_is_aidant,
        aidants=form.aidants,
        created_at=at,
        updated_at=at,
        version=0,
        ttl=ttl,
    )
    req.enqueue(BROUILLON, at)
    # The link is also in the answer (the page goes straight on to the request), so
    # an e-mail still undelivered after two days is dropped rather than sent late.
    message = mail(
        MAIL_CREATED,
        req,
        f"{settings().frontend_url}/habilitation/suivi/?demande={request_id}#{token}",
        ttl=ttl,
        deliver_by=int(time.time()) + 2 * 24 * 3600,
    )
    with transaction(stale()) as tx:
        tx.save(req, condition=HabilitationRequest.pk.does_not_exist())
        tx.save(message, condition=notifications.save_condition())
    anonymous.log_event(REQUEST_CREATED, request=request_id)
    notifications.kick(message)
    return {"id": request_id, "token": token, "status": BROUILLON}


def update(req: HabilitationRequest, form: Form) -> None:
    if req.status not in EDITABLE:
        raise errors.Conflict("Cette demande ne peut plus être modifiée.", code=codes.NOT_EDITABLE)
    if form.referent.email != req.referent.email:
        # The request's e-mails go to the new address from now on: it counts as one.
        _take_mail_allowance(form.referent.email)
    at = now()
    # A draft being worked on lives on; a submitted request (sent back for changes)
    # has no TTL and keeps none.
    keep_alive = [HabilitationRequest.ttl.set(_draft_ttl())] if req.status == BROUILLON else []
    if not writes.update(
        req,
        keep_alive
        + [
            HabilitationRequest.siret.set(form.siret),
            HabilitationRequest.name.set(form.name),
            HabilitationRequest.address.set(form.address),
            HabilitationRequest.structure_type.set(form.structure_type),
            HabilitationRequest.referent.set(form.referent),
            HabilitationRequest.referent_is_aidant.set(form.referent_is_aidant),
            HabilitationRequest.aidants.set(form.aidants),
            HabilitationRequest.updated_at.set(at),
            HabilitationRequest.version.add(1),
        ],
        HabilitationRequest.status.is_in(*EDITABLE) & (HabilitationRequest.version == req.version),
    ):
        raise stale()
    anonymous.log_event(REQUEST_UPDATED, request=req.id, status=req.status)
