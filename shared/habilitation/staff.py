"""Staff's side of accreditation: the queue, decisions, the accounts an accepted
request creates, and training marks (which may make an account active or inactive:
``shared.lifecycle``)."""

from __future__ import annotations

from .. import accounts, errors, journal, lifecycle
from .. import error_codes as codes
from ..sessions import Caller
from ..store import HabilitationRequest, Training, now, transaction
from ..store.habilitation import Person
from .requests import expired, iso, load, request_view, stale
from .rules import (
    ACCEPTEE,
    ACCOUNTS_CREATED,
    AIDANT_TRAINED,
    DECISIONS,
    EN_ATTENTE,
    ENVOYEE,
    EXISTING_ACCOUNT_NOT_ATTACHED,
    MODIFICATIONS,
    STATUS_LABELS,
)
from .workflow import move


def require_staff(caller: Caller) -> None:
    if not caller.aidant.is_staff:
        raise errors.Forbidden("Cet espace est réservé à l'équipe Aidants Connect.", code=codes.NOT_STAFF)


def queue(status: str | None, limit: int = 50) -> list[dict]:
    """Requests in one status, most recently changed first (gsi1 Query)."""
    statuses = [status] if status else [ENVOYEE, EN_ATTENTE, MODIFICATIONS]
    if any(s not in STATUS_LABELS for s in statuses):
        raise errors.BadRequest("Statut inconnu.", code=codes.INVALID_STATUS)
    out = []
    for s in statuses:
        for req in HabilitationRequest.in_queue(s, limit):
            if expired(req):
                continue
            out.append(
                {
                    "id": req.id,
                    "name": req.name,
                    "siret": req.siret,
                    "status": req.status,
                    "status_label": STATUS_LABELS[req.status],
                    "updated_at": iso(req.updated_at),
                    "referent": f"{req.referent.first_name} {req.referent.last_name}",
                    "aidants": len(req.aidants or []),
                    "last_message_by": req.last_message_by,
                }
            )
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
        file = lifecycle.read_file(person.aidant_id)
        if file is None:
            continue
        out.append(
            {
                "aidant_id": person.aidant_id,
                "role": role,
                "name": file.aidant.full_name,
                "email": file.aidant.email,
                "is_active": file.active_in(req.structure_id),
                "trained_on": file.training.trained_on if file.training else None,
                "pix_passed": bool(file.training and file.training.pix_passed),
                "has_confirmed_device": file.has_confirmed_device,
                "blockers": file.blockers(),
            }
        )
    return out


def decide(caller: Caller, request_id: str, decision: object, text: str | None) -> dict:
    require_staff(caller)
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise errors.BadRequest(
            "Décision inconnue (hold, request_changes, accept ou refuse).", code=codes.INVALID_DECISION
        )
    sources, target, needs_message = DECISIONS[decision]
    if needs_message and not text:
        raise errors.BadRequest("Dites au demandeur ce qu'il doit modifier.", code=codes.INVALID_FIELD)
    req, _ = load(request_id)
    if decision == "accept" and req.status == ACCEPTEE:
        create_accounts(caller, req)  # finishing an acceptance cut short
        return staff_view(request_id)
    author_name = f"{caller.aidant.first_name} (équipe Aidants Connect)"
    extra_actions, extra_operations = [], []
    if decision in ("accept", "refuse"):
        extra_actions += [
            HabilitationRequest.decided_at.set(now()),
            HabilitationRequest.decided_by.set(caller.aidant_id),
        ]
    if decision == "accept":
        structure_id = "h" + req.id  # one request, one structure, even if accepted twice
        structure = accounts.new_structure(
            req.name, req.siret, req.address, structure_id=structure_id, structure_type=req.structure_type
        )
        extra_actions.append(HabilitationRequest.structure_id.set(structure_id))
        extra_operations += accounts.structure_operations(structure)
        req.structure_id = structure_id
    move(
        req,
        sources,
        target,
        actor_id=caller.aidant_id,
        message_text=text,
        author="staff",
        author_name=author_name,
        extra_actions=extra_actions,
        extra_operations=extra_operations,
    )
    if decision == "accept":
        create_accounts(caller, req)
    return staff_view(request_id)


def _ensure_account(person: Person, structure_id: str, is_referent: bool) -> str | None:
    """A new inactive account in the structure. An e-mail that already belongs to an
    aidant is NOT attached: a request anyone can file must never hand an existing
    aidant (and their card or app) to a new structure's référent. Such an aidant joins
    another structure only with their own agreement, through the staff (journaled)."""
    if accounts.find_aidant_by_email(person.email) is not None:
        journal.record(EXISTING_ACCOUNT_NOT_ATTACHED, structure_id=structure_id, details={"email": person.email})
        return None
    try:
        aidant, _ = accounts.create_aidant(
            person.email,
            person.first_name,
            person.last_name,
            [structure_id],
            profession=person.profession,
            referent_of=[structure_id] if is_referent else [],
            is_active=False,
            device_kind=None,
        )
        return aidant.id
    except errors.Conflict:
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
        req.update(
            actions=[HabilitationRequest.referent.set(req.referent), HabilitationRequest.aidants.set(req.aidants)]
        )
        journal.record(
            ACCOUNTS_CREATED,
            aidant_id=caller.aidant_id,
            structure_id=req.structure_id,
            details={"request": req.id, "accounts": len(created)},
        )


def mark_trained(caller: Caller, aidant_id: str, trained_on: str, pix_passed: bool) -> dict:
    """Staff record the training; if it completes the conditions (a confirmed device
    too), the account becomes active in its structures in the same write. A training
    recorded as incomplete (a correction: PIX not passed after all) makes an active
    account inactive the same way, since being trained is a condition of being
    active; its sessions stop at their next request (``sessions.authenticate``) and
    are deleted right after."""
    require_staff(caller)
    file = lifecycle.read_file(aidant_id)
    if file is None:
        raise errors.NotFound("Aidant introuvable.")
    training = Training(
        *Training.key(aidant_id),
        aidant_id=aidant_id,
        trained_on=trained_on,
        pix_passed=pix_passed,
        marked_by=caller.aidant_id,
        created_at=now(),
    )
    activates = (
        training.complete
        and file.has_confirmed_device
        and not file.aidant.is_active
        and bool(file.aidant.structure_ids)
    )
    deactivates = not training.complete and bool(file.aidant.is_active)
    if deactivates and aidant_id == caller.aidant_id:
        raise errors.Conflict("Vous ne pouvez pas désactiver votre propre accès.", code=codes.SELF_DEACTIVATION)
    structure_id = min(file.aidant.structure_ids) if file.aidant.structure_ids else None
    activation = (
        lifecycle.activation(
            file.aidant, actor_id=caller.aidant_id, structure_id=structure_id, reason="trained", joins=False
        )
        if activates
        else []
    )
    deactivation = (
        lifecycle.deactivation(
            file.aidant,
            actor_id=caller.aidant_id,
            structure_id=structure_id,
            reason="training_incomplete",
            leaves=False,
        )
        if deactivates
        else None
    )
    with transaction(stale()) as tx:
        tx.save(training)
        tx.include(activation + (deactivation.operations if deactivation else []))
        tx.save(
            journal.entry(
                AIDANT_TRAINED,
                aidant_id=caller.aidant_id,
                structure_id=structure_id,
                details={"target_aidant": aidant_id, "trained_on": trained_on, "pix_passed": pix_passed},
            ),
            condition=journal.append_condition(),
        )
    file.training = training
    if activates or deactivates:
        file.aidant.is_active = activates
    if deactivation:
        deactivation.end_sessions()
    return {
        "aidant_id": aidant_id,
        "trained_on": trained_on,
        "pix_passed": pix_passed,
        "complete": training.complete,
        "is_active": bool(file.aidant.is_active),
        "blockers": file.blockers(),
    }
