"""The référent's space: the structures they manage, their aidants and their access.

Who may act: a référent (``Aidant.referent_of``) on the structures they manage, and
staff (``Aidant.is_staff``) on any structure — staff link and validate the card of a
new structure's référent before mailing the welcome kit. Anyone else gets 403 for
the whole space; a référent naming another structure, or an aidant who is not a
member of the structure named, gets 404 (the same answer as for something that does
not exist, so nothing is learnt about other structures).

Active, per structure: an aidant acts for structure S while ``is_active`` and S is in
``structure_ids`` (``shared.sessions.authenticate`` checks both at every request).
Deactivating in S removes S from ``structure_ids`` (their Membership stays, so the
référent still lists them and may reactivate them) and ends their sessions in S at
once; if S was their last structure the account itself becomes inactive. Mandates
belong to the structure and are not touched.

An account becomes active only when trained (staff's mark: training date and PIX test)
and holding a confirmed card or app: activating is refused otherwise, and the step
that completes both (a device confirmed, the training marked) activates it.

Every change is written with its journal entry in one TransactWrite.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyotp
import segno
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from . import cards, errors, journal, otp, sessions, stats
from .sessions import Caller
from .store import (Aidant, Item, Membership, OtpCard, Session, Structure, TotpDevice, Training,
                    now, transaction)

AIDANT_ACTIVATED = "aidant_activated"
AIDANT_DEACTIVATED = "aidant_deactivated"
APP_ENROLMENT_STARTED = "otp_app_enrolment_started"
APP_UNLINKED = "otp_app_unlinked"
STRUCTURE_SWITCHED = "structure_switched"

ISSUER_NAME = "Aidants Connect"
BLOCKER_TEXT = {
    "training": "l'aidant n'a pas encore été marqué comme formé (formation et test PIX)",
    "device": "l'aidant n'a pas de carte Aidants Connect ni d'application validée",
}


# -- who may act, on what -----------------------------------------------------------

def require_referent(caller: Caller) -> None:
    if not (caller.aidant.referent_of or caller.aidant.is_staff):
        raise errors.Forbidden("Cet espace est réservé aux référents des structures.", code="not_referent")


def managed_structure(caller: Caller, structure_id: str) -> Structure:
    require_referent(caller)
    if not caller.aidant.is_staff and structure_id not in (caller.aidant.referent_of or ()):
        raise errors.NotFound("Structure introuvable.")
    try:
        return Structure.get(*Structure.key(structure_id))
    except DoesNotExist:
        raise errors.NotFound("Structure introuvable.")


@dataclass
class AidantFile:
    """An aidant with everything on their partition: devices and training."""
    aidant: Aidant
    devices: list[TotpDevice]
    training: Training | None

    @property
    def trained(self) -> bool:
        return self.training is not None and self.training.complete

    @property
    def has_confirmed_device(self) -> bool:
        return any(d.confirmed for d in self.devices)

    def blockers(self) -> list[str]:
        return [name for name, ok in (("training", self.trained), ("device", self.has_confirmed_device))
                if not ok]

    def active_in(self, structure_id: str) -> bool:
        return bool(self.aidant.is_active) and structure_id in (self.aidant.structure_ids or ())

    def device(self, kind: str, confirmed: bool | None = None) -> TotpDevice | None:
        for d in self.devices:
            if d.device_kind == kind and (confirmed is None or bool(d.confirmed) == confirmed):
                return d
        return None


def read_file(aidant_id: str) -> AidantFile | None:
    """One Query on ``AIDANT#<id>``: the aidant, their devices, their training."""
    aidant, devices, training = None, [], None
    for item in Item.query(f"AIDANT#{aidant_id}"):
        if isinstance(item, Aidant):
            aidant = item
        elif isinstance(item, TotpDevice):
            devices.append(item)
        elif isinstance(item, Training):
            training = item
    return AidantFile(aidant, devices, training) if aidant is not None else None


@dataclass
class Target:
    caller: Caller
    structure: Structure
    file: AidantFile

    @property
    def aidant(self) -> Aidant:
        return self.file.aidant

    def entry(self, action: str, **details) -> object:
        return journal.entry(action, aidant_id=self.caller.aidant_id, structure_id=self.structure.id,
                             details={"target_aidant": self.aidant.id, **details})


def managed_aidant(caller: Caller, structure_id: str, aidant_id: str) -> Target:
    structure = managed_structure(caller, structure_id)
    try:
        Membership.get(f"STRUCTURE#{structure_id}", f"AIDANT#{aidant_id}")
    except DoesNotExist:
        raise errors.NotFound("Aidant introuvable dans cette structure.")
    file = read_file(aidant_id)
    if file is None:
        raise errors.NotFound("Aidant introuvable dans cette structure.")
    return Target(caller, structure, file)


def require_device_authority(target: Target) -> None:
    """A TOTP card or app belongs to the aidant, not to one structure: changing it
    changes how they log in everywhere. Only staff, or a référent who manages every
    structure the aidant works for, may do it; otherwise the référent of a newly
    accredited structure could take over an aidant of another structure."""
    caller = target.caller.aidant
    if caller.is_staff:
        return
    if not set(target.aidant.structure_ids or ()) <= set(caller.referent_of or ()):
        raise errors.Forbidden("Cet aidant travaille aussi pour une autre structure : seule l'équipe "
                               "Aidants Connect peut modifier sa carte ou son application.",
                               code="shared_aidant")


# -- views --------------------------------------------------------------------------

def _members(structure_id: str) -> list[str]:
    return [m.aidant_id for m in Membership.query(f"STRUCTURE#{structure_id}", Membership.sk.startswith("AIDANT#"))
            if isinstance(m, Membership)]


def structure_view(structure: Structure, active_count: int) -> dict:
    return {"id": structure.id, "name": structure.name, "siret": structure.siret,
            "address": structure.address, "structure_type": structure.structure_type,
            "is_active": bool(structure.is_active), "active_aidants": active_count}


def my_structures(caller: Caller) -> dict:
    """The structures the caller manages, each with its number of active aidants
    (one Query of memberships and one BatchGet of aidants per structure)."""
    require_referent(caller)
    ids = sorted(caller.aidant.referent_of or ())
    structures = list(Structure.batch_get([Structure.key(sid) for sid in ids])) if ids else []
    out = []
    for structure in sorted(structures, key=lambda s: s.name.lower()):
        members = _members(structure.id)
        aidants = list(Aidant.batch_get([Aidant.key(aid) for aid in members])) if members else []
        active = sum(1 for a in aidants if a.is_active and structure.id in (a.structure_ids or ()))
        out.append(structure_view(structure, active))
    me = read_file(caller.aidant_id)
    return {"referent": {"id": caller.aidant.id, "first_name": caller.aidant.first_name,
                         "last_name": caller.aidant.last_name, "is_staff": bool(caller.aidant.is_staff),
                         "has_confirmed_card": bool(me and me.device("card", confirmed=True)),
                         "has_confirmed_device": bool(me and me.has_confirmed_device)},
            "structures": out}


def device_view(device: TotpDevice) -> dict:
    return {"id": device.device_id, "kind": device.device_kind, "serial": device.serial,
            "confirmed": bool(device.confirmed),
            "label": device.serial if device.device_kind == "card" else "application"}


def aidant_view(file: AidantFile, structure: Structure, caller: Caller) -> dict:
    aidant = file.aidant
    training = file.training
    devices = sorted(file.devices, key=lambda d: (d.device_kind != "card", d.device_id))
    return {
        "id": aidant.id, "first_name": aidant.first_name, "last_name": aidant.last_name,
        "name": aidant.full_name, "email": aidant.email, "profession": aidant.profession,
        "is_active": file.active_in(structure.id),
        "is_referent": structure.id in (aidant.referent_of or ()),
        "is_you": aidant.id == caller.aidant_id,
        "otp": ", ".join(device_view(d)["label"] for d in devices if d.confirmed) or None,
        "devices": [device_view(d) for d in devices],
        "training": {"trained_on": training.trained_on if training else None,
                     "pix_passed": bool(training and training.pix_passed), "complete": file.trained},
        "activation_blockers": file.blockers(),
    }


def structure_detail(caller: Caller, structure_id: str) -> dict:
    """The structure and its aidants: one Query of memberships, then one Query per
    aidant (their partition: account, devices, training). Bounded by the size of the
    structure, whatever the size of the table."""
    structure = managed_structure(caller, structure_id)
    files = [f for f in (read_file(aid) for aid in _members(structure_id)) if f is not None]
    # The référent first (they link their own card before anyone else's), then by name.
    files.sort(key=lambda f: (f.aidant.id != caller.aidant_id, f.aidant.last_name.lower(),
                              f.aidant.first_name.lower()))
    aidants = [aidant_view(f, structure, caller) for f in files]
    return {"structure": structure_view(structure, sum(1 for a in aidants if a["is_active"])),
            "aidants": aidants}


# -- writes -------------------------------------------------------------------------

def transact(build, conflict: str = "Cette action a déjà été effectuée ou la situation a changé. "
                                    "Rechargez la page.", code: str = "conflict") -> None:
    """Run ``build(tx)`` as one TransactWrite; a failed condition means something
    changed under us (a double click, a second référent): 409, never a half-write."""
    try:
        with transaction() as tx:
            build(tx)
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            raise errors.Conflict(conflict, code=code)
        raise


_transact = transact


def _activation_actions(target: Target) -> list:
    actions = [Aidant.is_active.set(True), Aidant.structure_ids.add({target.structure.id})]
    if not target.aidant.current_structure_id:
        actions.append(Aidant.current_structure_id.set(target.structure.id))
    return actions


def _activate(tx, target: Target) -> None:
    """Active in the target's structure. The account's ``is_active`` must still be
    what was read, so the public count of active aidants moves once (``shared.stats``:
    an aidant already active in another structure is not counted again)."""
    was = bool(target.aidant.is_active)
    tx.update(target.aidant, actions=_activation_actions(target),
              condition=Aidant.pk.exists() & (Aidant.is_active == was))
    stats.aidant_activity(was, True).write(tx, target.aidant.id)


def activate(target: Target) -> dict:
    blockers = target.file.blockers()
    if blockers:
        raise errors.Conflict("Impossible d'activer cet accès : " + " ; ".join(BLOCKER_TEXT[b] for b in blockers)
                              + ".", code="not_ready")
    if target.file.active_in(target.structure.id):
        return {"is_active": True}

    def build(tx):
        _activate(tx, target)
        tx.save(target.entry(AIDANT_ACTIVATED), condition=journal.append_condition())
    _transact(build)
    return {"is_active": True}


def deactivate(target: Target) -> dict:
    aidant, sid = target.aidant, target.structure.id
    if aidant.id == target.caller.aidant_id:
        raise errors.Conflict("Vous ne pouvez pas désactiver votre propre accès. Demandez-le à un autre "
                              "référent de la structure ou à l'équipe Aidants Connect.", code="self_deactivation")
    if sid not in (aidant.structure_ids or ()):
        return {"is_active": False, "sessions_ended": end_sessions(aidant.id, sid)}  # already
    remaining = set(aidant.structure_ids or ()) - {sid}
    actions = [Aidant.structure_ids.delete({sid})]
    if not remaining:
        actions.append(Aidant.is_active.set(False))
    if aidant.current_structure_id == sid:
        actions.append(Aidant.current_structure_id.set(sorted(remaining)[0]) if remaining
                       else Aidant.current_structure_id.remove())

    was = bool(aidant.is_active)

    def build(tx):
        tx.update(aidant, actions=actions, condition=Aidant.structure_ids.contains(sid) & (Aidant.is_active == was))
        stats.aidant_activity(was, was and bool(remaining)).write(tx, aidant.id)
        tx.save(target.entry(AIDANT_DEACTIVATED, last_structure=not remaining),
                condition=journal.append_condition())
    _transact(build)
    # authenticate() already refuses these sessions (structure no longer theirs);
    # deleting them makes it immediate and leaves nothing to ride on.
    ended = end_sessions(aidant.id, None if not remaining else sid)
    return {"is_active": False, "sessions_ended": ended}


def end_sessions(aidant_id: str, structure_id: str | None) -> int:
    ended = 0
    for session in Session.gsi1.query(f"AIDANT#{aidant_id}#SESSIONS"):
        if structure_id is None or session.structure_id == structure_id:
            session.delete()
            ended += 1
    return ended


# -- physical cards -------------------------------------------------------------------

def link_card(target: Target, serial: object) -> dict:
    require_device_authority(target)
    serial = cards.normalise_serial(serial)
    if target.file.device("card") is not None:
        raise errors.Conflict("Cet aidant a déjà une carte. Déliez-la avant d'en lier une autre.",
                              code="already_has_card")
    card = cards.linkable_card(serial, target.structure.id)
    device = cards.new_card_device(card, target.aidant.id)
    actions, condition = cards.link_actions(card, device, target.structure.id)

    def build(tx):
        tx.update(card, actions=actions, condition=condition)
        tx.save(device, condition=TotpDevice.pk.does_not_exist())
        tx.save(target.entry(cards.CARD_LINKED, serial=serial), condition=journal.append_condition())
    _transact(build)
    return {"device": device_view(device)}


def _confirm(target: Target, device: TotpDevice, code: object, card: OtpCard | None) -> dict:
    step = cards.confirmation_step(device, code, actor_id=target.caller.aidant_id,
                                   structure_id=target.structure.id)
    actions, condition = cards.confirm_actions(device, step)
    # Confirming the device may complete the conditions of activation.
    activates = target.file.trained and not target.file.active_in(target.structure.id)

    def build(tx):
        tx.update(device, actions=actions, condition=condition)
        if card is not None:
            tx.update(card, actions=[OtpCard.confirmed_at.set(now())],
                      condition=OtpCard.device_id == device.device_id)
        if activates:
            _activate(tx, target)
        tx.save(target.entry(cards.DEVICE_CONFIRMED, kind=device.device_kind, serial=device.serial or ""),
                condition=journal.append_condition())
        if activates:
            tx.save(target.entry(AIDANT_ACTIVATED, reason="device_confirmed"), condition=journal.append_condition())
    _transact(build)
    device.confirmed = True
    return {"device": device_view(device), "is_active": activates or target.file.active_in(target.structure.id),
            "activation_blockers": [b for b in target.file.blockers() if b != "device"]}


def validate_card(target: Target, code: object) -> dict:
    require_device_authority(target)
    device = target.file.device("card")
    if device is None:
        raise errors.NotFound("Cet aidant n'a pas de carte à valider.", code="no_card")
    if device.confirmed:
        raise errors.Conflict("Cette carte est déjà validée.", code="already_confirmed")
    card = cards.get_card(device.serial) if device.serial else None
    return _confirm(target, device, code, card if card and card.device_id == device.device_id else None)


def unlink_card(target: Target, lost: bool) -> dict:
    require_device_authority(target)
    device = target.file.device("card")
    if device is None:
        raise errors.NotFound("Cet aidant n'a pas de carte.", code="no_card")
    card = cards.get_card(device.serial) if device.serial else None

    def build(tx):
        tx.delete(device, condition=TotpDevice.pk.exists())
        if card is not None and card.device_id == device.device_id:
            actions, condition = cards.unlink_actions(card, device, lost)
            tx.update(card, actions=actions, condition=condition)
        tx.save(target.entry(cards.CARD_UNLINKED, serial=device.serial or "", lost=lost),
                condition=journal.append_condition())
    _transact(build)
    return {"unlinked": device.serial, "card_status": "lost" if lost else "stock"}


# -- phone app --------------------------------------------------------------------------

def start_app(target: Target) -> dict:
    """A fresh secret, shown once as a QR code (otpauth URI) for the aidant to scan.
    Asking again replaces an unconfirmed secret; a confirmed app must be unlinked first."""
    require_device_authority(target)
    if target.file.device("app", confirmed=True) is not None:
        raise errors.Conflict("Cet aidant a déjà une application validée. Déliez-la avant d'en ajouter une autre.",
                              code="already_has_app")
    stale = [d for d in target.file.devices if d.device_kind == "app" and not d.confirmed]
    device, secret = otp.new_device(target.aidant.id, "app", confirmed=False)

    def build(tx):
        for old in stale:
            tx.delete(old)
        tx.save(device, condition=TotpDevice.pk.does_not_exist())
        tx.save(target.entry(APP_ENROLMENT_STARTED), condition=journal.append_condition())
    _transact(build)
    uri = pyotp.TOTP(secret, interval=int(device.interval)).provisioning_uri(
        name=target.aidant.email, issuer_name=ISSUER_NAME)
    qr = segno.make(uri, error="m", micro=False)
    return {"device": device_view(device), "secret": secret, "otpauth_uri": uri,
            "qr_svg": qr.svg_inline(scale=5, border=2, dark="#000000", light="#ffffff"),
            "qr_svg_data_uri": qr.svg_data_uri(scale=5, border=2, dark="#000000", light="#ffffff"),
            "interval": int(device.interval)}


def confirm_app(target: Target, code: object) -> dict:
    require_device_authority(target)
    device = target.file.device("app", confirmed=False)
    if device is None:
        if target.file.device("app", confirmed=True) is not None:
            raise errors.Conflict("L'application de cet aidant est déjà validée.", code="already_confirmed")
        raise errors.NotFound("Aucune application en cours d'ajout pour cet aidant.", code="no_app")
    return _confirm(target, device, code, None)


def unlink_app(target: Target) -> dict:
    require_device_authority(target)
    apps = [d for d in target.file.devices if d.device_kind == "app"]
    if not apps:
        raise errors.NotFound("Cet aidant n'a pas d'application.", code="no_app")

    def build(tx):
        for device in apps:
            tx.delete(device, condition=TotpDevice.pk.exists())
        tx.save(target.entry(APP_UNLINKED), condition=journal.append_condition())
    _transact(build)
    return {"unlinked": len(apps)}


# -- an aidant of several structures --------------------------------------------------------

def switch_structure(caller: Caller, structure_id: object) -> tuple[dict, Session, str]:
    """Act for another of one's structures: this session and the next logins.

    The session is replaced by one naming the new structure (same end), so that its
    cookie still lets one BatchGet read the session, the aidant and the structure;
    returns the answer, the new session and its cookie value."""
    if not isinstance(structure_id, str) or structure_id not in (caller.aidant.structure_ids or ()):
        raise errors.NotFound("Structure introuvable.")
    try:
        structure = Structure.get(*Structure.key(structure_id))
    except DoesNotExist:
        raise errors.NotFound("Structure introuvable.")
    if not structure.is_active:
        raise errors.NotFound("Structure introuvable.")
    previous = caller.structure_id
    session, token = sessions.new_session(caller.aidant_id, structure_id, expires_at=int(caller.session.expires_at))

    def build(tx):
        tx.delete(caller.session, condition=Session.pk.exists())
        tx.save(session, condition=Session.pk.does_not_exist())
        tx.update(caller.aidant, actions=[Aidant.current_structure_id.set(structure_id)],
                  condition=Aidant.structure_ids.contains(structure_id))
        tx.save(journal.entry(STRUCTURE_SWITCHED, aidant_id=caller.aidant_id, structure_id=structure_id,
                              details={"from": previous}), condition=journal.append_condition())
    _transact(build)
    caller.structure_id, caller.session = structure_id, session
    return {"structure": {"id": structure.id, "name": structure.name, "siret": structure.siret,
                          "address": structure.address}}, session, token
