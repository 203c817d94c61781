"""Step 2: FranceConnect's callback. The state is consumed once, the login is
completed and verified, the usager is created or refreshed and attached to the
draft, as named steps in a fixed order: the first that refuses says why
(:class:`Refused`), and the browser goes back to the draft page with it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .. import crypto, errors, franceconnect, journal, mandates
from .. import error_codes as codes
from ..config import settings
from ..sessions import Caller
from ..store import FranceConnectState, MandateDraft, Usager, now, writes

log = logging.getLogger("aidants_connect.drafts")

USAGER_IDENTIFIED = "usager_identified"

# Front-end pages (openapi.yaml).
DRAFT_PAGE = "/mandats/nouveau/"
RECAP_PAGE = "/mandats/recapitulatif/"


@dataclass
class CallbackOutcome:
    draft_id: str | None
    error: str | None = None
    franceconnect_id_token: str | None = None  # set once FranceConnect has identified the usager

    def location(self) -> str:
        base = settings().frontend_url
        if self.franceconnect_id_token:
            # Through FranceConnect's logout first, whatever happened next on our side:
            # it sends the browser back to one of two registered addresses with
            # ``state`` = the draft (then ``.<error>`` on the draft page).
            if self.error is None:
                if self.draft_id is None:  # identify() sets it from the state before anything succeeds
                    raise RuntimeError("an identified usager's outcome names no draft")
                target, state = RECAP_PAGE, self.draft_id
            else:
                target, state = DRAFT_PAGE, f"{self.draft_id}.{self.error}" if self.draft_id else self.error
            logout = franceconnect.logout_url(self.franceconnect_id_token, base + target, state)
            if logout:
                return logout
        if self.error is None:
            return f"{base}{RECAP_PAGE}?draft={self.draft_id}"
        query = f"draft={self.draft_id}&error={self.error}" if self.draft_id else f"error={self.error}"
        return f"{base}{DRAFT_PAGE}?{query}"


class Refused(Exception):
    """Why a callback goes back to the draft page (``error``: the code the page shows)."""

    def __init__(self, error: str, *, forget_draft: bool = False):
        super().__init__(error)
        self.error = error
        self.forget_draft = forget_draft  # the callback is not the caller's: name no draft


def identify(query: dict, authenticate) -> CallbackOutcome:
    """Handle ``/fc/callback``. ``authenticate`` returns the aidant of the browser's
    session: the state must have been issued to that same aidant (login CSRF). The
    steps run in this order; the first that refuses says why."""
    outcome = CallbackOutcome(None)
    try:
        state = _state_of(query)
        outcome.draft_id = state.draft_id
        caller = _caller_of(state, authenticate)
        _consume(state)
        _check_answer(query)
        identity = _complete_login(query, state)
        outcome.franceconnect_id_token = identity.id_token
        usager = _usager_of(identity, caller.structure_id)
        _attach(state, usager, caller)
    except Refused as refusal:
        outcome.error = refusal.error
        if refusal.forget_draft:
            outcome.draft_id = None
        return outcome
    journal.record(
        USAGER_IDENTIFIED,
        aidant_id=caller.aidant_id,
        structure_id=caller.structure_id,
        usager_id=usager.id,
        details={"draft": state.draft_id},
    )
    return outcome


def _state_of(query: dict) -> FranceConnectState:
    """The login our ``state`` names (it is not consumed yet)."""
    state = query.get("state")
    if not isinstance(state, str) or not state or len(state) > 256:
        raise Refused(franceconnect.FAILED)
    item = FranceConnectState.find(crypto.keyed_hash(state, "fc_state"))
    if item is None:
        raise Refused(franceconnect.FAILED)
    return item


def _caller_of(state: FranceConnectState, authenticate) -> Caller:
    try:
        caller = authenticate()
    except errors.ApiError as err:
        raise Refused(codes.SESSION_EXPIRED) from err
    if caller.aidant_id != state.aidant_id:
        raise Refused(franceconnect.FAILED, forget_draft=True)
    return caller


def _consume(state: FranceConnectState) -> None:
    now_s = int(time.time())
    if not writes.update(
        state,
        [FranceConnectState.used_at.set(now_s)],
        FranceConnectState.used_at.does_not_exist() & (FranceConnectState.expires_at > now_s),
    ):
        raise Refused(codes.FRANCECONNECT_EXPIRED)  # replayed callback or login too slow


def _check_answer(query: dict) -> None:
    if query.get("error"):
        # FranceConnect sends the user back with an OAuth error (RFC 6749 §4.1.2.1).
        log.info("FranceConnect answered %s: %s", query.get("error"), query.get("error_description"))
        raise Refused(franceconnect.CANCELLED if query["error"] == "access_denied" else franceconnect.FAILED)
    code = query.get("code")
    if not isinstance(code, str) or not code or len(code) > 1024:
        raise Refused(franceconnect.FAILED)


def _complete_login(query: dict, state: FranceConnectState) -> franceconnect.Identity:
    try:
        return franceconnect.complete_login(query["code"], state.nonce_hash)
    except franceconnect.FranceConnectError as exc:
        log.warning("FranceConnect login refused: %s", exc.reason)
        raise Refused(exc.code) from exc
    except errors.BadRequest as err:
        raise Refused(franceconnect.FAILED) from err


def _usager_of(identity: franceconnect.Identity, structure_id: str) -> Usager:
    """Identified for the caller's structure (which matters in the training sandbox
    only: every trainee's structure has usagers of its own)."""
    try:
        return mandates.upsert_usager(identity.sub, identity.claims, structure_id)
    except errors.BadRequest as err:  # FranceConnect sent no name
        raise Refused(franceconnect.FAILED) from err


def _attach(state: FranceConnectState, usager: Usager, caller: Caller) -> None:
    """The usager on the draft, unless it was signed or expired meanwhile."""
    now_s = int(time.time())
    if not writes.update(
        MandateDraft(*MandateDraft.key(state.draft_id)),
        [MandateDraft.usager_id.set(usager.id), MandateDraft.identified_at.set(now())],
        MandateDraft.signed_at.does_not_exist()
        & (MandateDraft.expires_at > now_s)
        & (MandateDraft.aidant_id == caller.aidant_id),
    ):
        raise Refused(codes.DRAFT_EXPIRED)
