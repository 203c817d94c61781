"""Aidant sessions: a random cookie, a server-side item, two timeouts.

The cookie holds 256 random bits; the item is keyed by its HMAC, so a leaked table
does not let anyone ride a session. Every request re-reads the aidant, so a
deactivated aidant or a removed structure stops working at the next request.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from pynamodb.exceptions import DoesNotExist

from . import crypto, errors, journal
from .config import settings
from .http import Request, Response
from .store import Aidant, Item, Session, Structure

COOKIE = "ac_session"
_TOUCH_EVERY = 60  # seconds: refresh last_seen at most this often, not on every request


@dataclass
class Caller:
    """The logged-in aidant acting through this request."""
    aidant: Aidant
    structure_id: str
    session: Session

    @property
    def aidant_id(self) -> str:
        return self.aidant.id


def open_session(aidant: Aidant, structure_id: str, response: Response) -> Session:
    cfg = settings()
    token = crypto.new_token()
    now_s = int(time.time())
    pk, sk = Session.key(crypto.keyed_hash(token, "session"))
    session = Session(pk=pk, sk=sk, aidant_id=aidant.id, structure_id=structure_id,
                      expires_at=now_s + cfg.session_ttl_seconds, last_seen=now_s,
                      ttl=now_s + cfg.session_ttl_seconds)
    session.gsi1pk, session.gsi1sk = f"AIDANT#{aidant.id}#SESSIONS", str(now_s)
    session.save(condition=Session.pk.does_not_exist())
    response.set_cookie(COOKIE, token, max_age=cfg.session_ttl_seconds)
    return session


def _check_origin(request: Request) -> None:
    """Refuse cross-site state changes (CSRF) even if a browser sent the cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if origin is None:
        return  # non-browser clients send no Origin; SameSite and JSON-only bodies cover browsers
    expected = urlsplit(settings().frontend_url)
    got = urlsplit(origin)
    if (got.scheme, got.netloc) != (expected.scheme, expected.netloc):
        raise errors.Forbidden("Requête d'une autre origine refusée.", code="cross_origin")


def authenticate(request: Request) -> Caller:
    """The caller of an ``/api/*`` request, or 401."""
    return authenticate_with(request)[0]


def authenticate_with(request: Request, *keys: tuple[str, str]) -> tuple[Caller, dict[tuple[str, str], Item]]:
    """The caller, and the items at ``keys`` read in the same (strongly consistent)
    BatchGet as the session: a request that needs one more item than its session
    saves a round trip. Missing items are absent from the dict."""
    token = request.cookie(COOKIE)
    if not token or len(token) > 128:
        raise errors.Unauthorized()
    _check_origin(request)
    session_key = Session.key(crypto.keyed_hash(token, "session"))
    found: dict[tuple[str, str], Item] = {}
    if keys:
        found = {(i.pk, i.sk): i for i in Item.batch_get([session_key, *keys], consistent_read=True)}
        session = found.pop(session_key, None)
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
    # The aidant and the structure they act for, in one BatchGet: a deactivated
    # aidant, or a structure closed or left, stops working at the next request.
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
        session.update(actions=[Session.last_seen.set(now_s)])
    return Caller(aidant=aidant, structure_id=session.structure_id, session=session), found


def end_session(request: Request, response: Response) -> None:
    token = request.cookie(COOKIE)
    response.delete_cookie(COOKIE)
    if not token or len(token) > 128:
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
