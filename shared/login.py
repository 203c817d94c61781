"""Aidant login: e-mail + TOTP, then a one-time link by e-mail, then a session.

Every refusal gets the same status and message whatever its reason, so the answer
never tells whether an e-mail belongs to an aidant. A refused attempt is anonymous
(nobody proved who they are), so its real reason goes to a log line
(``shared.anonymous``), not to the journal: anyone could otherwise add permanent
items by typing addresses. The journal keeps what an aidant did: a right code (the
link sent), a login.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from . import anonymous, crypto, errors, journal, notifications, otp
from . import error_codes as codes
from .config import settings
from .http import Response
from .sessions import new_session, open_session, set_cookie
from .store import Aidant, EmailClaim, LoginLink, Session, Structure, expired, read, transaction

_NOBODY = "~unknown"  # an aidant partition that never exists
# Where an aidant of several structures lands after each login: they pick the one
# they act for (the last one is offered first), then go where they were going.
CHOOSE_STRUCTURE_PAGE = "/choisir-structure/"
_BAD_CREDENTIALS = "L'adresse e-mail ou le code à 6 chiffres est incorrect."


def _refused() -> errors.Unauthorized:
    return errors.Unauthorized(_BAD_CREDENTIALS, code=codes.INVALID_CREDENTIALS)


def safe_next_path(value: object) -> str | None:
    """Only a path on our own site: an open redirect would hand the session to anyone."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and len(value) <= 512
        and value.isprintable()
    ):
        return value
    return None


def active_structure_id(aidant: Aidant) -> str | None:
    """The structure the aidant acts for: the current one if active, else any active one."""
    ids = sorted(aidant.structure_ids or ())
    if not ids:
        return None
    active = {s.id for s in Structure.many(ids) if s.is_active and not expired(s)}
    if aidant.current_structure_id in active:
        return aidant.current_structure_id
    return next((sid for sid in ids if sid in active), None)


@dataclass
class LoginStarted:
    link_sent: bool
    session_opened: bool


def start(email: str, code: object, response: Response, next_path: str | None = None) -> LoginStarted:
    """Check e-mail (normalised: ``shared.emails.normalize``) and code; then send the
    link, or open the session directly when the link step is turned off."""
    throttle_key = otp.Throttle.key_for(email)
    found = read([EmailClaim.key(email), throttle_key])
    claim = found.get(EmailClaim.key(email))
    throttle = otp.Throttle.from_item(throttle_key, found.get(throttle_key))
    aidant_id = claim.aidant_id if isinstance(claim, EmailClaim) else None

    try:
        attempt = throttle.admit("Trop de codes incorrects. Votre connexion est bloquée pendant 15 minutes.")
    except errors.TooManyRequests:
        anonymous.log_event("login_refused", reason="locked", aidant_id=aidant_id, email_ref=anonymous.email_ref(email))
        raise

    # An unknown e-mail reads an empty partition, so that it costs the same store calls
    # (and about the same time) as a known one with a wrong code: nothing in the
    # answer tells which e-mails exist. The structures are read only after a valid code.
    aidant, devices = otp.devices_of(aidant_id or _NOBODY)
    structure_id: str | None = None
    reason: str | None
    if aidant is None:
        reason = "unknown_email"
    elif not aidant.is_active:
        reason = "inactive_aidant"
    elif expired(aidant):
        reason = "expired_account"  # a sandbox trainee past the end of their account
    elif otp.consume(devices, code) is None:
        reason = "wrong_or_replayed_code"
    else:
        structure_id = active_structure_id(aidant)
        reason = None if structure_id else "no_active_structure"

    if reason is not None:
        locked = throttle.record_failure(attempt)
        anonymous.log_event(
            "login_refused",
            reason=reason,
            aidant_id=aidant_id,
            email_ref=anonymous.email_ref(email),
            attempt=attempt,
            locked=locked,
        )
        raise _refused()
    if aidant is None or structure_id is None:  # no refusal: a known aidant, an active structure
        raise RuntimeError("a login that was not refused has an aidant and a structure")

    throttle.clear()
    if not settings().login_link_enabled:
        open_session(aidant, structure_id, response)
        journal.record(
            journal.LOGIN_SUCCEEDED, aidant_id=aidant.id, structure_id=structure_id, details={"method": "otp"}
        )
        return LoginStarted(link_sent=False, session_opened=True)

    send_link(aidant, structure_id, next_path)
    return LoginStarted(link_sent=True, session_opened=False)


def send_link(aidant: Aidant, structure_id: str, next_path: str | None) -> None:
    cfg = settings()
    token = crypto.new_token()
    now_s = int(time.time())
    expires_at = now_s + cfg.login_link_ttl_seconds
    pk, sk = LoginLink.key(crypto.keyed_hash(token, "login-link"))
    link = LoginLink(pk=pk, sk=sk, aidant_id=aidant.id, expires_at=expires_at, ttl=expires_at, next_path=next_path)
    # The e-mail goes through the outbox, written with the link (shared.notifications).
    message = notifications.login_link_item(aidant, f"{cfg.issuer}/api/login/{token}", expires_at)
    with transaction() as tx:
        tx.save(link, condition=LoginLink.pk.does_not_exist())
        tx.save(message, condition=notifications.save_condition())
        tx.save(
            journal.entry(journal.LOGIN_LINK_SENT, aidant_id=aidant.id, structure_id=structure_id),
            condition=journal.append_condition(),
        )
    notifications.kick(message)


def consume_link(token: str, response: Response) -> str:
    """Open a session from an e-mailed link; returns where the browser goes next.

    The link's consumption, the session and the journal entry are one transaction:
    two clicks (or a mail scanner and a person) cannot both open a session, and a
    request that answers 503 has used nothing up (store/writes.py)."""
    if not token or len(token) > 128:
        raise errors.Gone()
    link_hash = crypto.keyed_hash(token, "login-link")
    link = LoginLink.find(link_hash, consistent=True)
    if link is None:
        anonymous.log_event("login_link_refused", reason="unknown_link")
        raise errors.Gone()
    now_s = int(time.time())
    if link.used_at is not None or link.expires_at <= now_s:
        # Whoever holds a used or expired link is nobody yet: a log line, no item.
        anonymous.log_event(
            "login_link_refused", aidant_id=link.aidant_id, reason="link_reused" if link.used_at else "link_expired"
        )
        raise errors.Gone()
    aidant = Aidant.find(link.aidant_id)
    if aidant is None:
        raise errors.Gone()
    structure_id = active_structure_id(aidant) if aidant.is_active else None
    if structure_id is None:
        anonymous.log_event("login_link_refused", reason="inactive", aidant_id=aidant.id)
        raise errors.Forbidden("Votre accès à Aidants Connect n'est pas actif.", code=codes.INACTIVE)
    session, cookie = new_session(aidant.id, structure_id)
    L = LoginLink
    with transaction(errors.Gone()) as tx:  # used by a concurrent click, or expired meanwhile
        tx.update(
            L(*L.key(link_hash)),
            actions=[L.used_at.set(now_s)],
            condition=L.pk.exists() & L.used_at.does_not_exist() & (L.expires_at > now_s),
        )
        tx.save(session, condition=Session.pk.does_not_exist())
        tx.save(
            journal.entry(
                journal.LOGIN_SUCCEEDED,
                aidant_id=aidant.id,
                structure_id=structure_id,
                details={"method": "otp+email_link"},
            ),
            condition=journal.append_condition(),
        )
    set_cookie(response, cookie, session)
    return landing(aidant, link.next_path or "/espace-aidant/")


def landing(aidant: Aidant, next_path: str) -> str:
    """Mandates belong to a structure: an aidant who works for several picks, after
    logging in, the one they act for (the page goes on to ``next_path`` at once when
    fewer than two of them are open)."""
    if len(aidant.structure_ids or ()) > 1:
        return CHOOSE_STRUCTURE_PAGE + "?" + urlencode({"next": next_path})
    return next_path
