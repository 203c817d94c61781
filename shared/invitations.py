"""A référent invites a person to their structure; the person joins it.

Many aidants work in two places (a France Services and a CCAS, a médiathèque two
days a week). Mandates belong to a structure, so working for a second one is a
membership of the same account, never a second account:

* **An aidant already** (the address, in its normal form, is an aidant's): the
  invitation waits until that aidant, logged in, accepts it with their TOTP
  (``POST /api/invitations/{id}/accept``): same account, same card or app. They then
  act for the structure too (a ``Membership`` and the structure in
  ``structure_ids``) and switch to it in one step (``POST /api/session/structure``).
  A référent can never attach an existing aidant (and their card or app) on their
  own: that would let the référent of a freshly accredited structure take over an
  aidant of another one (``shared.referent.require_device_authority``).
* **A newcomer** (nobody has the address) goes through the existing activation path:
  an inactive account in the structure, without a device, written with the
  invitation (the référent gives the names); the référent then links a card or the
  phone app, staff mark the training, and the account becomes active
  (``shared.referent``). Their invitation ends at once (``account_created``).

An invitation can be used only by the invited address (the accepting aidant's
e-mail, in normal form, must be the one invited: anyone else gets 404, as for an
unknown id), only once, only while pending (``INVITATION_TTL_DAYS``, 14 by default),
and the référent may withdraw it until then. Each step (sent, accepted, withdrawn) is
journaled in the structure, in the same transaction as the change and as the e-mail
to the invitee (outbox, template ``invitation``). Sending e-mails to typed addresses
is bounded per structure and day (``INVITATIONS_PER_STRUCTURE_PER_DAY``).

Whether an address is already an aidant's shows to the référent in one way: a
newcomer needs names (400 naming ``first_name``/``last_name`` otherwise). Référents
are accountable (their attempts are journaled when they succeed, and rate-limited).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from . import accounts, crypto, emails, errors, journal, lifecycle, notifications, otp, ratelimit
from . import error_codes as codes
from .config import settings
from .sessions import Caller
from .store import Aidant, Invitation, Membership, Structure, now, transaction
from .store.invitations import ACCEPTED, ACCOUNT_CREATED, PENDING, WITHDRAWN

INVITATION_SENT = "invitation_sent"
INVITATION_ACCEPTED = "invitation_accepted"
INVITATION_WITHDRAWN = "invitation_withdrawn"

MAX_NAME = 100
_NOT_FOUND = "Cette invitation est introuvable."


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="seconds")


def _name(data: dict, field: str, label: str, required: bool) -> str | None:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise errors.BadRequest(
                f"Cette personne n'a pas encore de compte Aidants Connect : indiquez son {label}.",
                code=codes.INVALID_FIELD,
                field=field,
            )
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_NAME or not value.strip().isprintable():
        raise errors.BadRequest(f"Le champ « {label} » n'est pas valide.", code=codes.INVALID_FIELD, field=field)
    return value.strip()


def _is_member(structure_id: str, aidant_id: str) -> bool:
    return Membership.find(structure_id, aidant_id) is not None


def _ended() -> errors.Conflict:
    return errors.Conflict(
        "Cette invitation vient d'être retirée, acceptée ou a expiré. Rechargez la page.", code=codes.INVITATION_ENDED
    )


# -- the référent's side ------------------------------------------------------------


def invite(caller: Caller, structure: Structure, data: dict) -> Invitation:
    """``POST /api/referent/structures/{structure}/invitations``, to a structure the
    caller manages (``shared.referent.managed_structure``)."""
    email = emails.normalize(data.get("email"), field="email", label="adresse e-mail")
    existing = accounts.find_aidant_by_email(email)
    first_name = _name(data, "first_name", "prénom", required=existing is None)
    last_name = _name(data, "last_name", "nom", required=existing is None)
    profession = _name(data, "profession", "profession", required=False)
    if existing is not None and _is_member(structure.id, existing.id):
        raise errors.Conflict(
            "Cette personne figure déjà parmi les aidants de votre structure. Si son accès "
            "est désactivé, réactivez-le depuis la liste des aidants.",
            code=codes.ALREADY_MEMBER,
        )
    now_s = int(time.time())
    if any(
        i.structure_id == structure.id and i.status == PENDING and i.expires_at > now_s
        for i in Invitation.pending_for_email(email)
    ):
        raise errors.Conflict(
            "Cette personne a déjà une invitation en attente pour votre structure.", code=codes.ALREADY_INVITED
        )
    ratelimit.take(
        f"invitations#{structure.id}",
        settings().invitations_per_structure_per_day,
        24 * 3600,
        "Votre structure a envoyé beaucoup d'invitations aujourd'hui. Réessayez demain.",
    )
    invitation_id = crypto.new_id()
    expires_at = now_s + settings().invitation_ttl_days * 24 * 3600
    created = now()
    invitation = Invitation(
        *Invitation.key(invitation_id),
        id=invitation_id,
        structure_id=structure.id,
        structure_name=structure.name,
        email=email,
        invited_by=caller.aidant_id,
        invited_by_name=caller.aidant.full_name,
        status=PENDING,
        expires_at=expires_at,
        ttl=expires_at + 30 * 24 * 3600,
        created_at=created,
    )
    new_items: list = []
    if existing is None:
        if first_name is None or last_name is None:  # _name above required them of a newcomer
            raise RuntimeError("a newcomer's names were not checked")
        # The newcomer's account, inactive in the structure: the activation path
        # (device by the référent, training by staff) starts from here.
        newcomer, new_items = accounts.new_aidant_items(
            email, first_name, last_name, [structure.id], profession=profession, is_active=False
        )
        invitation.status, invitation.aidant_id = ACCOUNT_CREATED, newcomer.id
        invitation.ended_at, invitation.ended_by = created, caller.aidant_id
    else:
        invitation.index_as_pending(created.isoformat(timespec="seconds"))
    message = notifications.invitation_item(invitation, newcomer=existing is None)

    # A conflict here: the address was claimed meanwhile (a second invitation of
    # the same newcomer, an accreditation's account).
    with transaction(
        errors.Conflict(
            "Cette adresse vient d'être enregistrée par ailleurs. Rechargez la page et recommencez.",
            code=codes.CONFLICT,
        )
    ) as tx:
        tx.save(invitation, condition=Invitation.pk.does_not_exist())
        for item, condition in new_items:
            tx.save(item, condition=condition)
        tx.save(message, condition=notifications.save_condition())
        tx.save(
            journal.entry(
                INVITATION_SENT,
                aidant_id=caller.aidant_id,
                structure_id=structure.id,
                details={
                    "invitation": invitation_id,
                    "email": email,
                    "newcomer": existing is None,
                    **({"target_aidant": existing.id} if existing else {"new_account": invitation.aidant_id}),
                },
            ),
            condition=journal.append_condition(),
        )
    notifications.kick(message)
    return invitation


def structure_view(invitation: Invitation) -> dict:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "invited_by": invitation.invited_by_name,
        "created_at": invitation.created_at.isoformat(timespec="seconds") if invitation.created_at else None,
        "expires_at": _iso(int(invitation.expires_at)),
    }


def of_structure(structure: Structure) -> dict:
    """``GET /api/referent/structures/{structure}/invitations``: the pending ones."""
    now_s = int(time.time())
    return {
        "invitations": [
            structure_view(i)
            for i in Invitation.pending_of_structure(structure.id)
            if i.status == PENDING and i.expires_at > now_s
        ]
    }


def withdraw(caller: Caller, structure: Structure, invitation_id: str) -> dict:
    invitation = Invitation.find(invitation_id, consistent=True) if 0 < len(invitation_id) <= 64 else None
    if invitation is None or invitation.structure_id != structure.id or invitation.status == ACCOUNT_CREATED:
        raise errors.NotFound(_NOT_FOUND, code=codes.INVITATION_NOT_FOUND)
    if invitation.status != PENDING:
        raise errors.Conflict("Cette invitation a déjà été acceptée ou retirée.", code=codes.INVITATION_ENDED)
    now_s = int(time.time())

    with transaction(
        errors.Conflict("Cette invitation a déjà été acceptée ou retirée.", code=codes.INVITATION_ENDED)
    ) as tx:
        tx.update(
            invitation,
            actions=Invitation.ending_actions(WITHDRAWN, now(), caller.aidant_id),
            condition=Invitation.pk.exists() & (Invitation.status == PENDING),
        )
        tx.save(
            journal.entry(
                INVITATION_WITHDRAWN,
                aidant_id=caller.aidant_id,
                structure_id=structure.id,
                details={
                    "invitation": invitation.id,
                    "email": invitation.email,
                    "expired": invitation.expires_at <= now_s,
                },
            ),
            condition=journal.append_condition(),
        )
    return {"invitation": invitation.id, "status": WITHDRAWN}


# -- the invitee's side ----------------------------------------------------------------


def pending_for(aidant: Aidant) -> list[dict]:
    """What ``GET /api/me`` lists: the invitations waiting for this aidant's address
    (one Query), not expired, to a structure they do not act for already."""
    now_s = int(time.time())
    mine = set(aidant.structure_ids or ())
    return [
        {
            "id": i.id,
            "structure": {"id": i.structure_id, "name": i.structure_name},
            "invited_by": i.invited_by_name,
            "expires_at": _iso(int(i.expires_at)),
        }
        for i in Invitation.pending_for_email(aidant.email)
        if i.status == PENDING and i.expires_at > now_s and i.structure_id not in mine
    ]


def _invitation_for(caller: Caller, invitation_id: str) -> Invitation:
    """The caller's own invitation: another address's is answered like a missing one."""
    invitation = Invitation.find(invitation_id, consistent=True) if 0 < len(invitation_id) <= 64 else None
    if (
        invitation is None
        or invitation.status == ACCOUNT_CREATED
        or not crypto.constant_time_equal(invitation.email, emails.normalize(caller.aidant.email))
    ):
        raise errors.NotFound(_NOT_FOUND, code=codes.INVITATION_NOT_FOUND)
    if invitation.status == WITHDRAWN:
        raise errors.Gone("La structure a retiré cette invitation.", code=codes.INVITATION_WITHDRAWN)
    if invitation.status == ACCEPTED:
        raise errors.Conflict("Vous avez déjà accepté cette invitation.", code=codes.INVITATION_ENDED)
    if invitation.expires_at <= time.time():
        raise errors.Gone(
            "Cette invitation a expiré. Demandez au référent de la structure de vous inviter à nouveau.",
            code=codes.INVITATION_EXPIRED,
        )
    return invitation


def accept(caller: Caller, invitation_id: str, code: object) -> dict:
    """``POST /api/invitations/{id}/accept {"otp"}``: the aidant joins the structure,
    with the same account and device. Confirmed with their TOTP (single use, counted
    against the brute-force lock), so a session left open is not enough to join a
    structure in their name."""
    invitation = _invitation_for(caller, invitation_id)
    if not isinstance(code, str) or not code.strip():
        raise errors.BadRequest("Merci d'indiquer le code à 6 chiffres.", code=codes.INVALID_REQUEST, field="otp")
    structure = Structure.find(invitation.structure_id)
    if structure is None or not structure.is_active:
        raise errors.Gone("Cette structure n'utilise plus Aidants Connect.", code=codes.STRUCTURE_INACTIVE)
    otp.check_code_for(caller.aidant_id, code, action="accept_invitation")
    now_s = int(time.time())
    sid = structure.id

    # The aidant's side of it (membership, structure, activation journaled there)
    # is the lifecycle's, in the same transaction as the invitation used up.
    with transaction(_ended()) as tx:
        tx.update(
            invitation,
            actions=Invitation.ending_actions(ACCEPTED, now(), caller.aidant_id, aidant_id=caller.aidant_id),
            condition=Invitation.still_pending(now_s) & (Invitation.email == invitation.email),
        )
        tx.include(lifecycle.joining(caller.aidant, structure_id=sid, reason="invitation_accepted"))
        tx.save(
            journal.entry(
                INVITATION_ACCEPTED,
                aidant_id=caller.aidant_id,
                structure_id=sid,
                details={"invitation": invitation.id, "invited_by": invitation.invited_by, "from": caller.structure_id},
            ),
            condition=journal.append_condition(),
        )
    caller.aidant.structure_ids = set(caller.aidant.structure_ids or ()) | {sid}
    return {"invitation": invitation.id, "structure": {"id": sid, "name": structure.name}}
