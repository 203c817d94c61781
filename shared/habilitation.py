"""Accreditation (habilitation) of a structure, from the request to active aidants.

The requester is the structure's future référent. They have no account yet, so the
request is reached through a capability: a random 256-bit token in a link e-mailed
at creation (``/habilitation/suivi/?demande=<id>#<token>``; the fragment never
reaches a server log, and the page sends the token as ``Authorization: Bearer``).
Why a link rather than e-mail + code: the requester comes back a few times over
weeks, from the e-mail the service writes to at each status change anyway; a link
costs them nothing to use and us no extra state, and holding it proves they read
that mailbox. The token is stored as a keyed hash (to check it) and sealed (to put
the link in the later e-mails), never in clear.

Statuses and who moves them::

    brouillon ──requester submits──▶ envoyee ──staff──▶ en_attente
        ▲                              │  ▲                 │
        │                              ▼  └─requester──┐    ▼
        └──────────────── modifications_demandees ◀────┴─ (staff asks for changes)
    envoyee | en_attente ──staff──▶ acceptee | refusee   (modifications_demandees ──▶ refusee too)

Every status change is one conditional write on the expected current status (two
staff members deciding at once: one wins), with its journal entry and the e-mail to
the requester in the same TransactWrite (``shared.notifications`` outbox).

Filing is public, so what an anonymous person leaves is bounded. A draft expires
``HABILITATION_DRAFT_TTL_DAYS`` (30) after its last change unless submitted (``ttl``,
and :func:`load` treats an expired draft as gone): someone who starts a request and
walks away expects nothing to be kept, while a structure gathering its aidants' names
has a month between two edits. Its creation e-mail's outbox item expires with it.
The draft's creation and edits are log lines (``shared.anonymous``), not journal
entries. A submitted request is kept, with the journal entry of its submission: one
per request (again only after staff ask for changes), and requests per address and
in all are rate-limited. The requester writes to staff once the request is
submitted, at most ``HABILITATION_MESSAGES_PER_REQUEST_PER_DAY`` (10) a day.

On acceptance the structure is created with the request; then the accounts, one by
one and idempotently (a retried acceptance finishes the job): the référent
(``referent_of``) and the aidants, all inactive and without a device. An account
becomes active once staff mark it trained (training date, PIX test passed) and the
référent gives it a confirmed card or app (``shared.referent``).
"""
from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Callable

from pynamodb.exceptions import TransactWriteError, UpdateError

from . import accounts, anonymous, crypto, emails, errors, journal, notifications, ratelimit, stats
from .config import settings
from .referent import AIDANT_ACTIVATED, AIDANT_DEACTIVATED, end_sessions, read_file, transact
from .sessions import Caller
from .store import (Aidant, HabilitationMessage, HabilitationRequest, Item, Training,
                    now)
from .store.habilitation import Person

BROUILLON, ENVOYEE, EN_ATTENTE = "brouillon", "envoyee", "en_attente"
ACCEPTEE, REFUSEE, MODIFICATIONS = "acceptee", "refusee", "modifications_demandees"
STATUS_LABELS = {
    BROUILLON: "Brouillon", ENVOYEE: "Envoyée", EN_ATTENTE: "En attente",
    ACCEPTEE: "Acceptée", REFUSEE: "Refusée", MODIFICATIONS: "Modifications demandées",
}
EDITABLE = {BROUILLON, MODIFICATIONS}
# staff decision → (statuses it may follow, new status, message required)
DECISIONS = {
    "hold": ({ENVOYEE}, EN_ATTENTE, False),
    "request_changes": ({ENVOYEE, EN_ATTENTE}, MODIFICATIONS, True),
    "accept": ({ENVOYEE, EN_ATTENTE}, ACCEPTEE, False),
    "refuse": ({ENVOYEE, EN_ATTENTE, MODIFICATIONS}, REFUSEE, False),
}
STRUCTURE_TYPES = {
    "france_services": "France Services",
    "ccas": "CCAS / CIAS",
    "mairie": "Mairie",
    "departement": "Conseil départemental",
    "mediatheque": "Médiathèque / bibliothèque",
    "association": "Association",
    "tiers_lieu": "Tiers-lieu / espace public numérique",
    "service_public": "Autre service public",
    "autre": "Autre",
}
MAX_AIDANTS = 50
MAX_MESSAGE = 4000
SIRET_RE = re.compile(r"\d{14}")

REQUEST_CREATED = "habilitation_request_created"
REQUEST_UPDATED = "habilitation_request_updated"
REQUEST_STATUS = "habilitation_status_changed"
REQUEST_MESSAGE = "habilitation_message"
ACCOUNTS_CREATED = "habilitation_accounts_created"
AIDANT_TRAINED = "aidant_training_marked"
EXISTING_ACCOUNT_NOT_ATTACHED = "habilitation_existing_account_not_attached"

# Outbox templates (shared/templates/mail/).
MAIL_CREATED = "habilitation_created"
MAIL_STATUS = "habilitation_status"
MAIL_MESSAGE = "habilitation_message"


# -- validation ---------------------------------------------------------------------

def _text(data: dict, name: str, label: str, max_len: int = 200, required: bool = True,
          path: str | None = None) -> str | None:
    """``path``: where ``data`` sits in the body, so the error names the input."""
    field = f"{path}.{name}" if path else name
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise errors.BadRequest(f"Le champ « {label} » est obligatoire.", code="invalid_field", field=field)
        return None
    if not isinstance(value, str) or len(value.strip()) > max_len or not value.strip().isprintable():
        raise errors.BadRequest(f"Le champ « {label} » n'est pas valide.", code="invalid_field", field=field)
    return value.strip()


def _person(data: object, who: str, path: str, with_phone: bool = False) -> Person:
    if not isinstance(data, dict):
        raise errors.BadRequest(f"Merci de renseigner {who}.", code="invalid_field", field=path)
    return Person(first_name=_text(data, "first_name", f"prénom ({who})", 100, path=path),
                  last_name=_text(data, "last_name", f"nom ({who})", 100, path=path),
                  # Each of these addresses is e-mailed (the référent now, every
                  # person on acceptance): one mailbox each, in its normal form.
                  email=emails.normalize(data.get("email"), field=f"{path}.email",
                                         label=f"adresse e-mail ({who})"),
                  profession=_text(data, "profession", f"fonction ({who})", 150, path=path),
                  phone=_text(data, "phone", f"téléphone ({who})", 30, required=False, path=path)
                  if with_phone else None)


@dataclass
class Form:
    siret: str
    name: str
    address: str
    structure_type: str
    referent: Person
    referent_is_aidant: bool
    aidants: list[Person]


def parse_form(data: dict) -> Form:
    siret = _text(data, "siret", "SIRET", 20).replace(" ", "")
    if not SIRET_RE.fullmatch(siret):
        raise errors.BadRequest("Le SIRET doit comporter 14 chiffres.", code="invalid_field", field="siret")
    structure_type = data.get("structure_type")
    if not isinstance(structure_type, str) or structure_type not in STRUCTURE_TYPES:
        raise errors.BadRequest("Merci de choisir le type de la structure.", code="invalid_field",
                                field="structure_type")
    referent = _person(data.get("referent"), "le référent", "referent", with_phone=True)
    raw_aidants = data.get("aidants", [])
    if not isinstance(raw_aidants, list) or len(raw_aidants) > MAX_AIDANTS:
        raise errors.BadRequest(f"La liste des aidants doit compter au plus {MAX_AIDANTS} personnes.",
                                code="invalid_field", field="aidants")
    aidants = [_person(a, f"l'aidant n°{i + 1}", f"aidants.{i}") for i, a in enumerate(raw_aidants)]
    referent_is_aidant = data.get("referent_is_aidant", False)
    if not isinstance(referent_is_aidant, bool):
        raise errors.BadRequest("« referent_is_aidant » doit valoir true ou false.", code="invalid_field",
                                field="referent_is_aidant")
    # Compared in normal form: "Alice@x.fr" and "alice@x.fr" are one person.
    seen = set() if referent_is_aidant else {referent.email}
    for i, person in enumerate(aidants):
        if person.email in seen:
            raise errors.BadRequest("Chaque personne doit avoir sa propre adresse e-mail.", code="duplicate_email",
                                    field=f"aidants.{i}.email")
        seen.add(person.email)
    aidants = [p for p in aidants if p.email != referent.email]  # the référent, listed once
    return Form(siret, _text(data, "name", "nom de la structure", 200),
                _text(data, "address", "adresse", 500), structure_type, referent,
                referent_is_aidant, aidants)


# -- views ---------------------------------------------------------------------------

def _person_view(p: Person) -> dict:
    return {"first_name": p.first_name, "last_name": p.last_name, "email": p.email,
            "profession": p.profession, "phone": p.phone, "aidant_id": p.aidant_id}


def _iso(moment) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def request_view(req: HabilitationRequest, messages: list[HabilitationMessage], for_staff: bool) -> dict:
    view = {
        "id": req.id, "status": req.status, "status_label": STATUS_LABELS[req.status],
        "siret": req.siret, "name": req.name, "address": req.address,
        "structure_type": req.structure_type, "structure_type_label": STRUCTURE_TYPES.get(req.structure_type),
        "referent": _person_view(req.referent), "referent_is_aidant": bool(req.referent_is_aidant),
        "aidants": [_person_view(p) for p in req.aidants or []],
        "structure_id": req.structure_id,
        "created_at": _iso(req.created_at), "submitted_at": _iso(req.submitted_at),
        "updated_at": _iso(req.updated_at), "decided_at": _iso(req.decided_at),
        "editable": req.status in EDITABLE,
        "messages": [{"author": m.author, "author_name": m.author_name, "text": m.text, "at": m.at}
                     for m in messages],
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
    req, messages = None, []
    if not isinstance(request_id, str) or len(request_id) > 64:
        raise errors.NotFound("Demande introuvable.")
    for item in Item.query(f"HABILITATION#{request_id}"):
        if isinstance(item, HabilitationRequest):
            req = item
        elif isinstance(item, HabilitationMessage):
            messages.append(item)
    if req is None:
        raise errors.NotFound("Demande introuvable.")
    if expired(req):
        raise errors.Gone(f"Ce brouillon a expiré : il n'a pas été envoyé dans les "
                          f"{settings().habilitation_draft_ttl_days} jours qui ont suivi sa dernière modification. "
                          "Déposez une nouvelle demande.", code="draft_expired")
    return req, messages


# -- requester ----------------------------------------------------------------------

def bearer_token(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer "):].strip()
    return token if 0 < len(token) <= 128 else None


def as_requester(request_id: str, token: str | None) -> tuple[HabilitationRequest, list[HabilitationMessage]]:
    """The request the link opens; a wrong token answers like an unknown request."""
    if not token:
        raise errors.Unauthorized("Ouvrez le lien reçu par e-mail pour suivre votre demande.",
                                  code="missing_token")
    req, messages = load(request_id)
    if not crypto.constant_time_equal(crypto.keyed_hash(token, "habilitation"), req.access_hash):
        raise errors.NotFound("Demande introuvable.")
    return req, messages


def follow_link(req: HabilitationRequest) -> str:
    token = crypto.unseal(req.sealed_token, req.pk)
    return f"{settings().frontend_url}/habilitation/suivi/?demande={req.id}#{token}"


def _mail(template: str, req: HabilitationRequest, link: str, *, ttl: int | None = None,
          deliver_by: int | None = None, **context):
    return notifications.new_item(template, req.referent.email, {
        "first_name": req.referent.first_name, "structure_name": req.name, "link": link,
        "status": req.status, "status_label": STATUS_LABELS[req.status], **context},
        ttl=ttl, deliver_by=deliver_by)


def _transact(build) -> None:
    transact(build, "La demande a changé entre-temps. Rechargez la page.", code="stale")


def _queue_keys(status: str, at, request_id: str) -> tuple[str, str]:
    return f"HABILITATIONS#{status}", f"{_iso(at)}#{request_id}"


def _take_mail_allowance(email: str) -> None:
    """Anyone may file a request, and filing one e-mails the address typed: without
    a limit, this form would send our e-mails to any address, as often as asked.
    ``email`` is in normal form (``shared.emails``): its variants share one allowance."""
    cfg = settings()
    busy = "Trop de demandes ont été déposées{}. Réessayez plus tard."
    ratelimit.take("habilitation-mail:" + crypto.keyed_hash(email, "habilitation-mail"),
                   cfg.habilitation_requests_per_email_per_day, 24 * 3600, busy.format(" pour cette adresse e-mail"))
    ratelimit.take("habilitation-mail:all", cfg.habilitation_requests_per_hour, 3600, busy.format(""))


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
        pk=pk, sk=sk, id=request_id, status=BROUILLON, access_hash=crypto.keyed_hash(token, "habilitation"),
        sealed_token=crypto.seal(token, pk), siret=form.siret, name=form.name, address=form.address,
        structure_type=form.structure_type, referent=form.referent, referent_is_aidant=form.referent_is_aidant,
        aidants=form.aidants, created_at=at, updated_at=at, version=0, ttl=ttl)
    req.gsi1pk, req.gsi1sk = _queue_keys(BROUILLON, at, request_id)
    # The link is also in the answer (the page goes straight on to the request), so
    # an e-mail still undelivered after two days is dropped rather than sent late.
    message = _mail(MAIL_CREATED, req, f"{settings().frontend_url}/habilitation/suivi/?demande={request_id}#{token}",
                    ttl=ttl, deliver_by=int(time.time()) + 2 * 24 * 3600)

    def build(tx):
        tx.save(req, condition=HabilitationRequest.pk.does_not_exist())
        tx.save(message, condition=notifications.save_condition())
    _transact(build)
    anonymous.log_event(REQUEST_CREATED, request=request_id)
    notifications.kick(message)
    return {"id": request_id, "token": token, "status": BROUILLON}


def update(req: HabilitationRequest, form: Form) -> None:
    if req.status not in EDITABLE:
        raise errors.Conflict("Cette demande ne peut plus être modifiée.", code="not_editable")
    if form.referent.email != req.referent.email:
        # The request's e-mails go to the new address from now on: it counts as one.
        _take_mail_allowance(form.referent.email)
    at = now()
    # A draft being worked on lives on; a submitted request (sent back for changes)
    # has no TTL and keeps none.
    keep_alive = [HabilitationRequest.ttl.set(_draft_ttl())] if req.status == BROUILLON else []
    try:
        req.update(actions=keep_alive + [
            HabilitationRequest.siret.set(form.siret), HabilitationRequest.name.set(form.name),
            HabilitationRequest.address.set(form.address),
            HabilitationRequest.structure_type.set(form.structure_type),
            HabilitationRequest.referent.set(form.referent),
            HabilitationRequest.referent_is_aidant.set(form.referent_is_aidant),
            HabilitationRequest.aidants.set(form.aidants), HabilitationRequest.updated_at.set(at),
            HabilitationRequest.version.add(1)],
            condition=HabilitationRequest.status.is_in(*EDITABLE) & (HabilitationRequest.version == req.version))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise errors.Conflict("La demande a changé entre-temps. Rechargez la page.", code="stale")
        raise
    anonymous.log_event(REQUEST_UPDATED, request=req.id, status=req.status)


def _move(req: HabilitationRequest, sources: set[str], target: str, *, actor_id: str | None,
          message_text: str | None = None, author: str | None = None, author_name: str | None = None,
          extra_actions: list | None = None, extra_writes: Callable[[object], None] | None = None) -> None:
    """One status change: conditional on the current status, with its journal entry,
    its optional message and the requester's e-mail, all or nothing."""
    if req.status not in sources:
        raise errors.Conflict(f"Impossible depuis le statut « {STATUS_LABELS[req.status]} ».",
                              code="invalid_transition")
    at = now()
    queue_pk, queue_sk = _queue_keys(target, at, req.id)
    actions = [HabilitationRequest.status.set(target), HabilitationRequest.updated_at.set(at),
               HabilitationRequest.version.add(1), HabilitationRequest.gsi1pk.set(queue_pk),
               HabilitationRequest.gsi1sk.set(queue_sk)] + (extra_actions or [])
    message = _message(req, author, author_name, message_text, at) if message_text else None
    if message is not None:
        actions += [HabilitationRequest.last_message_at.set(at), HabilitationRequest.last_message_by.set(author)]
    previous = req.status
    req.status = target
    mail = _mail(MAIL_STATUS, req, follow_link(req), message=message_text or "")

    def build(tx):
        tx.update(req, actions=actions, condition=(HabilitationRequest.status == previous)
                  & (HabilitationRequest.version == req.version))
        if message is not None:
            tx.save(message, condition=HabilitationMessage.pk.does_not_exist())
        if extra_writes is not None:
            extra_writes(tx)
        tx.save(mail, condition=notifications.save_condition())
        tx.save(journal.entry(REQUEST_STATUS, aidant_id=actor_id, structure_id=req.structure_id,
                              details={"request": req.id, "from": previous, "to": target}),
                condition=journal.append_condition())
    try:
        _transact(build)
    except errors.Conflict:
        req.status = previous
        raise
    req.version = int(req.version or 0) + 1
    notifications.kick(mail)


def submit(req: HabilitationRequest) -> None:
    """The requester sends the request to staff: from now on it is kept (no TTL)."""
    extra = [HabilitationRequest.submitted_at.set(now()), HabilitationRequest.ttl.remove()]
    _move(req, EDITABLE, ENVOYEE, actor_id=None, extra_actions=extra)


def _message(req: HabilitationRequest, author: str, author_name: str, text: str, at) -> HabilitationMessage:
    iso = _iso(at)
    return HabilitationMessage(req.pk, f"MESSAGE#{at.isoformat(timespec='milliseconds')}#{crypto.new_id(4)}",
                               request_id=req.id, author=author, author_name=author_name, text=text, at=iso,
                               created_at=at)


def message_text(data: dict, required: bool = True) -> str | None:
    value = data.get("message")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise errors.BadRequest("Le message est vide.", code="invalid_field")
        return None
    if not isinstance(value, str) or len(value) > MAX_MESSAGE:
        raise errors.BadRequest(f"Le message doit faire au plus {MAX_MESSAGE} caractères.", code="invalid_field")
    return value.strip()


def post_message(req: HabilitationRequest, author: str, author_name: str, text: str,
                 actor_id: str | None = None) -> None:
    """Append to the thread; a staff message is e-mailed to the requester.

    The requester's messages are permanent items written without a session, so they
    are bounded: only on a submitted request (a draft has nobody to talk to yet and
    may expire), and at most ``HABILITATION_MESSAGES_PER_REQUEST_PER_DAY`` a day."""
    if author == "requester":
        if req.status == BROUILLON:
            raise errors.Conflict("Envoyez d'abord votre demande : les échanges avec l'équipe commencent à son envoi.",
                                  code="not_submitted")
        ratelimit.take(f"habilitation-messages:{req.id}", settings().habilitation_messages_per_request_per_day,
                       24 * 3600, "Vous avez envoyé beaucoup de messages aujourd'hui. Réessayez demain.")
    at = now()
    message = _message(req, author, author_name, text, at)
    mail = _mail(MAIL_MESSAGE, req, follow_link(req), message=text) if author == "staff" else None

    def build(tx):
        tx.save(message, condition=HabilitationMessage.pk.does_not_exist())
        tx.update(req, actions=[HabilitationRequest.last_message_at.set(at),
                                HabilitationRequest.last_message_by.set(author)],
                  condition=HabilitationRequest.pk.exists())
        if mail is not None:
            tx.save(mail, condition=notifications.save_condition())
        if actor_id is not None:
            tx.save(journal.entry(REQUEST_MESSAGE, aidant_id=actor_id, structure_id=req.structure_id,
                                  details={"request": req.id, "author": author}),
                    condition=journal.append_condition())
    _transact(build)
    if actor_id is None:
        anonymous.log_event(REQUEST_MESSAGE, request=req.id, author=author)
    if mail is not None:
        notifications.kick(mail)


# -- staff ----------------------------------------------------------------------------

def require_staff(caller: Caller) -> None:
    if not caller.aidant.is_staff:
        raise errors.Forbidden("Cet espace est réservé à l'équipe Aidants Connect.", code="not_staff")


def queue(status: str | None, limit: int = 50) -> list[dict]:
    """Requests in one status, most recently changed first (gsi1 Query)."""
    statuses = [status] if status else [ENVOYEE, EN_ATTENTE, MODIFICATIONS]
    if any(s not in STATUS_LABELS for s in statuses):
        raise errors.BadRequest("Statut inconnu.", code="invalid_status")
    out = []
    for s in statuses:
        for req in HabilitationRequest.gsi1.query(f"HABILITATIONS#{s}", scan_index_forward=False, limit=limit):
            if expired(req):
                continue
            out.append({"id": req.id, "name": req.name, "siret": req.siret, "status": req.status,
                        "status_label": STATUS_LABELS[req.status], "updated_at": _iso(req.updated_at),
                        "referent": f"{req.referent.first_name} {req.referent.last_name}",
                        "aidants": len(req.aidants or []), "last_message_by": req.last_message_by})
    return out


def staff_view(request_id: str) -> dict:
    req, messages = load(request_id)
    view = request_view(req, messages, for_staff=True)
    view["accounts"] = accounts_view(req) if req.structure_id else []
    return view


def accounts_view(req: HabilitationRequest) -> list[dict]:
    """The accounts created on acceptance, with what each still needs (one Query each)."""
    out = []
    for role, person in [("referent", req.referent)] + [("aidant", p) for p in req.aidants or []]:
        if not person.aidant_id:
            continue
        file = read_file(person.aidant_id)
        if file is None:
            continue
        out.append({"aidant_id": person.aidant_id, "role": role, "name": file.aidant.full_name,
                    "email": file.aidant.email, "is_active": file.active_in(req.structure_id),
                    "trained_on": file.training.trained_on if file.training else None,
                    "pix_passed": bool(file.training and file.training.pix_passed),
                    "has_confirmed_device": file.has_confirmed_device, "blockers": file.blockers()})
    return out


def decide(caller: Caller, request_id: str, decision: object, text: str | None) -> dict:
    require_staff(caller)
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise errors.BadRequest("Décision inconnue (hold, request_changes, accept ou refuse).",
                                code="invalid_decision")
    sources, target, needs_message = DECISIONS[decision]
    if needs_message and not text:
        raise errors.BadRequest("Dites au demandeur ce qu'il doit modifier.", code="invalid_field")
    req, _ = load(request_id)
    if decision == "accept" and req.status == ACCEPTEE:
        create_accounts(caller, req)  # finishing an acceptance cut short
        return staff_view(request_id)
    author_name = f"{caller.aidant.first_name} (équipe Aidants Connect)"
    extra_actions, extra_writes = [], None
    if decision in ("accept", "refuse"):
        extra_actions += [HabilitationRequest.decided_at.set(now()),
                          HabilitationRequest.decided_by.set(caller.aidant_id)]
    if decision == "accept":
        structure_id = "h" + req.id  # one request, one structure, even if accepted twice
        structure = accounts.new_structure(req.name, req.siret, req.address, structure_id=structure_id,
                                           structure_type=req.structure_type)
        extra_actions.append(HabilitationRequest.structure_id.set(structure_id))
        extra_writes = functools.partial(accounts.write_new_structure, structure=structure)
        req.structure_id = structure_id
    _move(req, sources, target, actor_id=caller.aidant_id, message_text=text, author="staff",
          author_name=author_name, extra_actions=extra_actions, extra_writes=extra_writes)
    if decision == "accept":
        create_accounts(caller, req)
    return staff_view(request_id)


def _ensure_account(person: Person, structure_id: str, is_referent: bool) -> str | None:
    """A new inactive account in the structure. An e-mail that already belongs to an
    aidant is NOT attached: a request anyone can file must never hand an existing
    aidant (and their card or app) to a new structure's référent. Such an aidant joins
    another structure only with their own agreement, through the staff (journaled)."""
    if accounts.find_aidant_by_email(person.email) is not None:
        journal.record(EXISTING_ACCOUNT_NOT_ATTACHED, structure_id=structure_id,
                       details={"email": person.email})
        return None
    try:
        aidant, _ = accounts.create_aidant(
            person.email, person.first_name, person.last_name, [structure_id], profession=person.profession,
            referent_of=[structure_id] if is_referent else [], is_active=False, device_kind=None)
        return aidant.id
    except TransactWriteError:
        return None  # created concurrently by a second acceptance: theirs stands


def create_accounts(caller: Caller, req: HabilitationRequest) -> None:
    people = [(req.referent, True)] + [(p, False) for p in req.aidants or []]
    created = []
    for person, is_referent in people:
        if not person.aidant_id:
            person.aidant_id = _ensure_account(person, req.structure_id, is_referent)
            if person.aidant_id:
                created.append(person.aidant_id)
    if created:
        req.update(actions=[HabilitationRequest.referent.set(req.referent),
                            HabilitationRequest.aidants.set(req.aidants)])
        journal.record(ACCOUNTS_CREATED, aidant_id=caller.aidant_id, structure_id=req.structure_id,
                       details={"request": req.id, "accounts": len(created)})


def parse_training(data: dict) -> tuple[str, bool]:
    trained_on = data.get("trained_on")
    try:
        day = date.fromisoformat(trained_on) if isinstance(trained_on, str) else None
    except ValueError:
        day = None
    if day is None or day > date.today():
        raise errors.BadRequest("Indiquez la date de la formation (AAAA-MM-JJ, pas dans le futur).",
                                code="invalid_field")
    pix = data.get("pix_passed")
    if not isinstance(pix, bool):
        raise errors.BadRequest("Indiquez si le test PIX est réussi (true ou false).", code="invalid_field")
    return day.isoformat(), pix


def mark_trained(caller: Caller, aidant_id: str, trained_on: str, pix_passed: bool) -> dict:
    """Staff record the training; if it completes the conditions (a confirmed device
    too), the account becomes active in its structures in the same write. A training
    recorded as incomplete (a correction: PIX not passed after all) makes an active
    account inactive the same way, since being trained is a condition of being
    active; its sessions stop at their next request (``sessions.authenticate``) and
    are deleted right after."""
    require_staff(caller)
    file = read_file(aidant_id)
    if file is None:
        raise errors.NotFound("Aidant introuvable.")
    pk, sk = Training.key(aidant_id)
    training = Training(pk, sk, aidant_id=aidant_id, trained_on=trained_on, pix_passed=pix_passed,
                        marked_by=caller.aidant_id, created_at=now())
    activates = (training.complete and file.has_confirmed_device and not file.aidant.is_active
                 and bool(file.aidant.structure_ids))
    deactivates = not training.complete and bool(file.aidant.is_active)
    if deactivates and aidant_id == caller.aidant_id:
        raise errors.Conflict("Vous ne pouvez pas désactiver votre propre accès.", code="self_deactivation")
    structure_id = sorted(file.aidant.structure_ids or [None])[0]

    def build(tx):
        tx.save(training)
        if activates:
            tx.update(file.aidant, actions=[Aidant.is_active.set(True)],
                      condition=Aidant.pk.exists() & (Aidant.is_active == False))  # noqa: E712 (a condition)
            stats.aidant_activity(False, True).write(tx, aidant_id)
            tx.save(journal.entry(AIDANT_ACTIVATED, aidant_id=caller.aidant_id, structure_id=structure_id,
                                  details={"target_aidant": aidant_id, "reason": "trained"}),
                    condition=journal.append_condition())
        if deactivates:
            tx.update(file.aidant, actions=[Aidant.is_active.set(False)],
                      condition=Aidant.pk.exists() & (Aidant.is_active == True))  # noqa: E712 (a condition)
            stats.aidant_activity(True, False).write(tx, aidant_id)
            tx.save(journal.entry(AIDANT_DEACTIVATED, aidant_id=caller.aidant_id, structure_id=structure_id,
                                  details={"target_aidant": aidant_id, "reason": "training_incomplete"}),
                    condition=journal.append_condition())
        tx.save(journal.entry(AIDANT_TRAINED, aidant_id=caller.aidant_id, structure_id=structure_id,
                              details={"target_aidant": aidant_id, "trained_on": trained_on,
                                       "pix_passed": pix_passed}),
                condition=journal.append_condition())
    _transact(build)
    file.training = training
    if activates:
        file.aidant.is_active = True
    if deactivates:
        file.aidant.is_active = False
        end_sessions(aidant_id, None)
    return {"aidant_id": aidant_id, "trained_on": trained_on, "pix_passed": pix_passed,
            "complete": training.complete, "is_active": bool(file.aidant.is_active),
            "blockers": file.blockers()}
