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

from pynamodb.exceptions import DoesNotExist, UpdateError

from . import cgu, crypto, errors, journal
from .config import settings
from .http import Request, Response
from .store import Aidant, Item, Session, Structure, writes

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
    pk, sk = Session.key(crypto.keyed_hash(token, "session"))
    expires_at = expires_at or now_s + cfg.session_ttl_seconds
    session = Session(pk=pk, sk=sk, aidant_id=aidant_id, structure_id=structure_id,
                      expires_at=expires_at, last_seen=now_s, ttl=expires_at)
    session.gsi1pk, session.gsi1sk = f"AIDANT#{aidant_id}#SESSIONS", str(now_s)
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


def authenticate_with(request: Request, *keys: tuple[str, str],
                      acting: bool = False) -> tuple[Caller, dict[tuple[str, str], Item]]:
    """The caller, and the items at ``keys`` read in the same (strongly consistent)
    BatchGet as the session: a request that needs one more item than its session
    saves a round trip. Missing items are absent from the dict. ``acting``: as for
    :func:`authenticate`."""
    token = request.cookie(COOKIE)
    if not token or len(token) > _MAX_COOKIE:
        raise errors.Unauthorized()
    session_key = Session.key(crypto.keyed_hash(token, "session"))
    named = _NAMED.fullmatch(token)
    wanted = list(dict.fromkeys([session_key, *keys, *(
        [Aidant.key(named[1]), Structure.key(named[2])] if named else [])]))
    found: dict[tuple[str, str], Item] = {}
    if len(wanted) > 1:
        found = {(i.pk, i.sk): i for i in Item.batch_get(wanted, consistent_read=True)}
        session = found.get(session_key)
    else:
        try:
            session = Session.get(*session_key)
        except DoesNotExist:
            session = None
    if not isinstance(session, Session):
        raise errors.Unauthorized("Votre session a expiré. Merci de vous reconnecter.", code="session_expired")
    now_s = int(time.time())
    cfg = settings()
    if session.expires_at <= now_s or session.last_seen + cfg.session_idle_seconds <= now_s:
        raise errors.Unauthorized("Votre session a expiré. Merci de vous reconnecter.", code="session_expired")
    # The aidant and the structure they act for, read with the session when the cookie
    # names them: a deactivated aidant, or a structure closed or left, stops working at
    # the next request.
    aidant = found.get(Aidant.key(session.aidant_id))
    structure = found.get(Structure.key(session.structure_id))
    if not isinstance(aidant, Aidant) or not isinstance(structure, Structure):
        aidant = structure = None
        for item in Item.batch_get([Aidant.key(session.aidant_id), Structure.key(session.structure_id)]):
            if isinstance(item, Aidant):
                aidant = item
            elif isinstance(item, Structure):
                structure = item
    if aidant is None:
        raise errors.Unauthorized()
    if not aidant.is_active or session.structure_id not in (aidant.structure_ids or set()) \
            or structure is None or not structure.is_active:
        raise errors.Unauthorized("Votre accès a été désactivé.", code="session_revoked")
    if now_s - session.last_seen >= _TOUCH_EVERY:
        try:
            # Not if it was ended meanwhile (logout, structure switch, deactivation):
            # an unconditional write would bring back a bare item.
            session.update(actions=[Session.last_seen.set(now_s)], condition=Session.pk.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            raise errors.Unauthorized("Votre session a expiré. Merci de vous reconnecter.", code="session_expired")
    if acting:
        cgu.require_accepted(aidant)
    return Caller(aidant=aidant, structure_id=session.structure_id, session=session, structure=structure), \
        {key: found[key] for key in keys if key in found}


def end_session(request: Request, response: Response) -> None:
    token = request.cookie(COOKIE)
    response.delete_cookie(COOKIE)
    if not token or len(token) > _MAX_COOKIE:
        return
    try:
        session = Session.get(*Session.key(crypto.keyed_hash(token, "session")))
    except DoesNotExist:
        return
    session.delete()
    journal.record(journal.LOGOUT, aidant_id=session.aidant_id, structure_id=session.structure_id)


def end_all_sessions_of(aidant_id: str) -> int:
    ended = 0
    for session in Session.gsi1.query(f"AIDANT#{aidant_id}#SESSIONS"):
        session.delete()
        ended += 1
    return ended
