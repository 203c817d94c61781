"""Aidant sessions: a random cookie, a server-side item, two timeouts.

The cookie holds 256 random bits; the item is keyed by its HMAC, so a leaked table
does not let anyone ride a session. Every request re-reads the aidant, so a
deactivated aidant or a removed structure stops working at the next request.

The cookie also names the aidant and the structure (``<aidant>.<structure>.<random>``):
the session, the aidant and the structure are then read in one BatchGet instead of
two in a row. The names are only where to look: the HMAC covers the whole cookie,
so changing them finds no session, and what the session item says is what counts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from . import cgu, crypto, errors, journal
from . import error_codes as codes
from .config import settings
from .http import Request, Response
from .store import Aidant, Item, Session, Structure, expired, expiring, read, writes

Key = tuple[str, str]

COOKIE = "ac_session"  # its base name: __Host-ac_session over https (shared.http.cookie_name)
_TOUCH_EVERY = 60  # seconds: refresh last_seen at most this often, not on every request
_MAX_COOKIE = 256
_ID = r"[A-Za-z0-9_-]{1,64}"
_NAMED = re.compile(rf"({_ID})\.({_ID})\.[A-Za-z0-9_-]{{43}}")


@dataclass
class Caller:
    """The logged-in aidant acting through this request."""

    aidant: Aidant
    structure_id: str
    session: Session
    structure: Structure | None = None  # the one they act for, as read with the session

    @property
    def aidant_id(self) -> str:
        return self.aidant.id


def new_session(aidant_id: str, structure_id: str, expires_at: int | None = None) -> tuple[Session, str]:
    """A session item (not saved) and its cookie value."""
    cfg = settings()
    now_s = int(time.time())
    token = crypto.new_token()
    if re.fullmatch(_ID, aidant_id) and re.fullmatch(_ID, structure_id or ""):
        token = f"{aidant_id}.{structure_id}.{token}"
    session = Session.new(
        crypto.keyed_hash(token, "session"),
        aidant_id=aidant_id,
        structure_id=structure_id,
        expires_at=expires_at or now_s + cfg.session_ttl_seconds,
        now_s=now_s,
    )
    return session, token


def set_cookie(response: Response, token: str, session: Session) -> None:
    response.set_cookie(COOKIE, token, max_age=max(0, int(session.expires_at) - int(time.time())))


def open_session(aidant: Aidant, structure_id: str, response: Response) -> Session:
    session, token = new_session(aidant.id, structure_id)
    writes.put_new(session)  # 256 random bits: the key can only be taken by our own re-sent copy
    set_cookie(response, token, session)
    return session


def authenticate(request: Request, *, acting: bool = False) -> Caller:
    """The caller of an ``/api/*`` request, or 401. ``acting``: the request creates,
    signs, revokes or uses a mandate, which needs the terms of use in force accepted
    (403 ``cgu_not_accepted`` otherwise, ``shared.cgu``)."""
    return authenticate_with(request, acting=acting)[0]


def authenticate_with(request: Request, *keys: Key, acting: bool = False) -> tuple[Caller, dict[Key, Item]]:
    """The caller, and the items at ``keys`` read in the same (strongly consistent)
    BatchGet as the session: a request that needs one more item than its session
    saves a round trip. Missing items are absent from the dict. ``acting``: as for
    :func:`authenticate`."""
    token = request.cookie(COOKIE)
    if not token or len(token) > _MAX_COOKIE:
        raise errors.Unauthorized()
    session, found = _read(token, keys)
    now_s = int(time.time())
    if session.expires_at <= now_s or session.last_seen + settings().session_idle_seconds <= now_s:
        raise _expired()
    aidant, structure = _acting_aidant(session, found)
    if now_s - session.last_seen >= _TOUCH_EVERY:
        # Not if it was ended meanwhile (logout, structure switch, deactivation):
        # an unconditional write would bring back a bare item.
        if not writes.update(session, [Session.last_seen.set(now_s)], Session.pk.exists()):
            raise _expired()
    if acting:
        cgu.require_accepted(aidant)
    return Caller(aidant=aidant, structure_id=session.structure_id, session=session, structure=structure), {
        key: found[key] for key in keys if key in found
    }


def _expired() -> errors.Unauthorized:
    return errors.Unauthorized("Votre session a expiré. Merci de vous reconnecter.", code=codes.SESSION_EXPIRED)


def _read(token: str, keys: tuple[Key, ...]) -> tuple[Session, dict[Key, Item]]:
    """The session of the cookie, with ``keys`` and (when the cookie names them) its
    aidant and structure: one BatchGet, or one GetItem when there is only the session."""
    session_key = Session.key(crypto.keyed_hash(token, "session"))
    named = _NAMED.fullmatch(token)
    wanted = list(
        dict.fromkeys([session_key, *keys, *([Aidant.key(named[1]), Structure.key(named[2])] if named else [])])
    )
    found: dict[Key, Item] = {}
    if len(wanted) > 1:
        found = read(wanted, consistent=True)
        session = found.get(session_key)
    else:
        session = Session.find(crypto.keyed_hash(token, "session"))
    if not isinstance(session, Session):
        raise _expired()
    return session, found


def _acting_aidant(session: Session, found: dict[Key, Item]) -> tuple[Aidant, Structure]:
    """The aidant and the structure they act for, read with the session when the
    cookie names them: a deactivated aidant, or a structure closed or left, stops
    working at the next request."""
    keys = Aidant.key(session.aidant_id), Structure.key(session.structure_id)
    aidant, structure = (found.get(k) for k in keys)
    if not isinstance(aidant, Aidant) or not isinstance(structure, Structure):
        again = read(keys)
        aidant, structure = (again.get(k) for k in keys)
    if not isinstance(aidant, Aidant):
        raise errors.Unauthorized()
    if (
        not aidant.is_active
        or session.structure_id not in (aidant.structure_ids or set())
        or not isinstance(structure, Structure)
        or not structure.is_active
    ):
        raise errors.Unauthorized("Votre accès a été désactivé.", code=codes.SESSION_REVOKED)
    if expired(aidant) or expired(structure):
        # A sandbox trainee's account past its end (production accounts carry no
        # ttl): gone, whatever DynamoDB has not deleted yet, and with it everything
        # of the structure, which is only ever reached through a session like this.
        raise errors.Unauthorized("Votre compte d'entraînement a expiré.", code=codes.SESSION_REVOKED)
    # What this request writes without a ttl ends with the trainee (sandbox only).
    expiring.set(structure.ttl)
    return aidant, structure


def end_session(request: Request, response: Response) -> None:
    token = request.cookie(COOKIE)
    response.delete_cookie(COOKIE)
    if not token or len(token) > _MAX_COOKIE:
        return
    session = Session.find(crypto.keyed_hash(token, "session"))
    if session is None:
        return
    session.delete()
    journal.record(journal.LOGOUT, aidant_id=session.aidant_id, structure_id=session.structure_id)
