"""OTP cards and phone apps, as a référent (or staff) links, validates and
unlinks them for an aidant (``shared.cards`` holds the cards' own rules)."""

from __future__ import annotations

import pyotp
import segno

from .. import cards, errors, journal, lifecycle, otp
from .. import error_codes as codes
from ..store import OtpCard, TotpDevice, now, transaction
from .access import Target, changed, require_device_authority
from .views import device_view

APP_ENROLMENT_STARTED = "otp_app_enrolment_started"
APP_UNLINKED = "otp_app_unlinked"
ISSUER_NAME = "Aidants Connect"


# -- physical cards -------------------------------------------------------------------


def link_card(target: Target, serial: object) -> dict:
    require_device_authority(target)
    serial = cards.normalise_serial(serial)
    if target.file.device("card") is not None:
        raise errors.Conflict(
            "Cet aidant a déjà une carte. Déliez-la avant d'en lier une autre.", code=codes.ALREADY_HAS_CARD
        )
    card = cards.linkable_card(serial, target.structure.id)
    device = cards.new_card_device(card, target.aidant.id)
    actions, condition = cards.link_actions(card, device, target.structure.id)
    with transaction(changed()) as tx:
        tx.update(card, actions=actions, condition=condition)
        tx.save(device, condition=TotpDevice.pk.does_not_exist())
        tx.save(target.entry(cards.CARD_LINKED, serial=serial), condition=journal.append_condition())
    return {"device": device_view(device)}


def _confirm(target: Target, device: TotpDevice, code: object, card: OtpCard | None) -> dict:
    step = cards.confirmation_step(device, code, actor_id=target.caller.aidant_id, structure_id=target.structure.id)
    actions, condition = cards.confirm_actions(device, step)
    # Confirming the device may complete the conditions of activation.
    activates = target.file.trained and not target.file.active_in(target.structure.id)
    with transaction(changed()) as tx:
        tx.update(device, actions=actions, condition=condition)
        if card is not None:
            tx.update(card, actions=[OtpCard.confirmed_at.set(now())], condition=OtpCard.device_id == device.device_id)
        tx.save(
            target.entry(cards.DEVICE_CONFIRMED, kind=device.device_kind, serial=device.serial or ""),
            condition=journal.append_condition(),
        )
        if activates:
            tx.include(
                lifecycle.activation(
                    target.aidant,
                    actor_id=target.caller.aidant_id,
                    structure_id=target.structure.id,
                    reason="device_confirmed",
                )
            )
    device.confirmed = True
    return {
        "device": device_view(device),
        "is_active": activates or target.file.active_in(target.structure.id),
        "activation_blockers": [b for b in target.file.blockers() if b != "device"],
    }


def validate_card(target: Target, code: object) -> dict:
    require_device_authority(target)
    device = target.file.device("card")
    if device is None:
        raise errors.NotFound("Cet aidant n'a pas de carte à valider.", code=codes.NO_CARD)
    if device.confirmed:
        raise errors.Conflict("Cette carte est déjà validée.", code=codes.ALREADY_CONFIRMED)
    card = cards.get_card(device.serial) if device.serial else None
    return _confirm(target, device, code, card if card and card.device_id == device.device_id else None)


def unlink_card(target: Target, lost: bool) -> dict:
    require_device_authority(target)
    device = target.file.device("card")
    if device is None:
        raise errors.NotFound("Cet aidant n'a pas de carte.", code=codes.NO_CARD)
    card = cards.get_card(device.serial) if device.serial else None
    with transaction(changed()) as tx:
        tx.delete(device, condition=TotpDevice.pk.exists())
        if card is not None and card.device_id == device.device_id:
            actions, condition = cards.unlink_actions(card, device, lost)
            tx.update(card, actions=actions, condition=condition)
        tx.save(
            target.entry(cards.CARD_UNLINKED, serial=device.serial or "", lost=lost),
            condition=journal.append_condition(),
        )
    return {"unlinked": device.serial, "card_status": "lost" if lost else "stock"}


# -- phone app --------------------------------------------------------------------------


def start_app(target: Target) -> dict:
    """A fresh secret, shown once as a QR code (otpauth URI) for the aidant to scan.
    Asking again replaces an unconfirmed secret; a confirmed app must be unlinked first."""
    require_device_authority(target)
    if target.file.device("app", confirmed=True) is not None:
        raise errors.Conflict(
            "Cet aidant a déjà une application validée. Déliez-la avant d'en ajouter une autre.",
            code=codes.ALREADY_HAS_APP,
        )
    stale = [d for d in target.file.devices if d.device_kind == "app" and not d.confirmed]
    device, secret = otp.new_device(target.aidant.id, "app", confirmed=False)
    with transaction(changed()) as tx:
        for old in stale:
            tx.delete(old)
        tx.save(device, condition=TotpDevice.pk.does_not_exist())
        tx.save(target.entry(APP_ENROLMENT_STARTED), condition=journal.append_condition())
    uri = pyotp.TOTP(secret, interval=int(device.interval)).provisioning_uri(
        name=target.aidant.email, issuer_name=ISSUER_NAME
    )
    qr = segno.make(uri, error="m", micro=False)
    return {
        "device": device_view(device),
        "secret": secret,
        "otpauth_uri": uri,
        "qr_svg": qr.svg_inline(scale=5, border=2, dark="#000000", light="#ffffff"),
        "qr_svg_data_uri": qr.svg_data_uri(scale=5, border=2, dark="#000000", light="#ffffff"),
        "interval": int(device.interval),
    }


def confirm_app(target: Target, code: object) -> dict:
    require_device_authority(target)
    device = target.file.device("app", confirmed=False)
    if device is None:
        if target.file.device("app", confirmed=True) is not None:
            raise errors.Conflict("L'application de cet aidant est déjà validée.", code=codes.ALREADY_CONFIRMED)
        raise errors.NotFound("Aucune application en cours d'ajout pour cet aidant.", code=codes.NO_APP)
    return _confirm(target, device, code, None)


def unlink_app(target: Target) -> dict:
    require_device_authority(target)
    apps = [d for d in target.file.devices if d.device_kind == "app"]
    if not apps:
        raise errors.NotFound("Cet aidant n'a pas d'application.", code=codes.NO_APP)
    with transaction(changed()) as tx:
        for device in apps:
            tx.delete(device, condition=TotpDevice.pk.exists())
        tx.save(target.entry(APP_UNLINKED), condition=journal.append_condition())
    return {"unlinked": len(apps)}
