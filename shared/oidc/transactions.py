"""Authorization transactions: a validated request from FranceConnect, waiting for
an aidant of a structure to pick the usager and the démarche.

``/oidc/authorize`` stores one and sends the browser to the front-end
(``/fi/?txn=<id>``); the front-end reads the choices (:func:`offer`) and sends the
aidant's decision (:func:`choose`), which issues the code through Authlib. The
transaction id is random (128 bits), but it travels in URLs (history, the login's
``next``, a screen shared with a usager): knowing it is not enough. The browser
FranceConnect sent also receives a cookie named after the transaction (a name per
transaction, so a second tab's request leaves the first one's cookie alone),
holding 256 random bits whose keyed hash is on the transaction; reading or
completing it needs that cookie as well as an aidant's session.

Storing a transaction is the one lasting cost an anonymous request can cause (it
lives :data:`TRANSACTION_TTL`, and is not journaled): it is bounded per client and
minute (``OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE``).
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Callable

from pynamodb.exceptions import DoesNotExist

from .. import crypto, errors, mandates, ratelimit
from .. import error_codes as codes
from ..config import settings
from ..demarches import DEMARCHES
from ..demarches import as_json as demarche_json
from ..http import Request, Response, require_str
from ..sessions import Caller
from ..store import AuthorizationTransaction, Autorisation, Usager, epoch, now, transaction, writes
from . import claims, events
from .errors import TemporarilyUnavailableError, fr
from .grants import Choice

TRANSACTION_TTL = 600  # the aidant logs in (TOTP + e-mailed link) and picks, within this
T = AuthorizationTransaction
# The browser cookie's name is this prefix and the transaction id: one constant, so
# that a deployment-wide cookie prefix (``__Host-`` over https) is applied in one place.
BROWSER_COOKIE_PREFIX = "ac_fi_"
_BROWSER_PURPOSE = "oidc-browser"
_MAX_BROWSER_COOKIE = 128


def browser_cookie_name(txn_id: str) -> str:
    return BROWSER_COOKIE_PREFIX + txn_id


def open_transaction(grant) -> tuple[AuthorizationTransaction, str]:
    """Store the request Authlib validated, within the client's allowance; returns it
    and the value of the browser cookie (only its keyed hash is stored).

    The allowance is counted in the same transaction as the transaction's item (one
    store call): a request refused for want of allowance stores nothing, and one
    answered 503 has counted nothing either."""
    request = grant.request
    data = request.payload.data
    client_id = request.client.get_client_id()
    now_s = int(time.time())
    txn_id = crypto.new_id(16)
    browser_token = crypto.new_token()
    pk, sk = T.key(txn_id)
    txn = T(
        pk=pk,
        sk=sk,
        id=txn_id,
        client_id=client_id,
        client_name=request.client.name,
        redirect_uri=grant.redirect_uri,
        scope=request.scope,
        state=data["state"],
        nonce=data["nonce"],
        acr=claims.ACR,
        code_challenge=data.get("code_challenge") or None,
        code_challenge_method=data.get("code_challenge_method") or None,
        prompt=data.get("prompt") or None,
        login_hint=data.get("login_hint") or None,
        max_age=int(data["max_age"]) if data.get("max_age") else None,
        browser_hash=crypto.keyed_hash(browser_token, _BROWSER_PURPOSE),
        expires_at=now_s + TRANSACTION_TTL,
        ttl=now_s + TRANSACTION_TTL,
        created_at=now(),
    )
    # Not journaled: the request is anonymous (events module doc). The connection is
    # journaled when an aidant completes it (``grants.issue_code``).
    allowance = _allowance_name(client_id)
    no_room = _NoOpenWindow()
    try:
        with transaction(no_room) as tx:
            ratelimit.count_in(tx, allowance, settings().oidc_authorize_per_client_per_minute, now_s)
            tx.save(txn, condition=T.pk.does_not_exist())
    except _NoOpenWindow as err:
        if ratelimit.key_of(allowance) not in writes.refused_keys(tx, err.__cause__):
            if err.__cause__ is None:  # store.transaction raises it from the store's error
                raise
            raise err.__cause__ from None
        # No open window with room: once per minute and client (or over the limit).
        _take_allowance(client_id, grant.redirect_uri, data["state"])
        writes.put_new(txn)
    return txn, browser_token


class _NoOpenWindow(Exception):
    """The transaction was refused: by the allowance's condition, we expect."""


def _allowance_name(client_id: str) -> str:
    return f"oidc-authorize#{client_id}"


def _take_allowance(client_id: str, redirect_uri: str, state: str) -> None:
    """One of the client's authorizations this minute (one conditional write on a
    counter that expires), or ``temporarily_unavailable`` back to the client (RFC 6749
    §4.1.2.1: the error code stands for the 503 a redirect cannot carry)."""
    try:
        ratelimit.take(
            _allowance_name(client_id),
            settings().oidc_authorize_per_client_per_minute,
            60,
            "Trop de demandes de connexion pour ce service.",
        )
    except errors.TooManyRequests as err:
        error = TemporarilyUnavailableError(
            fr("Trop de demandes de connexion pour ce service en ce moment : réessayez dans une minute.")
        )
        error.redirect_uri, error.state = redirect_uri, state
        raise error from err


def frontend_url(txn: AuthorizationTransaction) -> str:
    return f"{settings().frontend_url}/fi/?txn={txn.id}"


def authorization_params(txn: AuthorizationTransaction) -> dict[str, str]:
    """The request as FranceConnect sent it, for Authlib to check again and answer."""
    params = {
        "response_type": "code",
        "client_id": txn.client_id,
        "redirect_uri": txn.redirect_uri,
        "scope": txn.scope,
        "state": txn.state,
        "nonce": txn.nonce,
        "acr_values": txn.acr,
    }
    if txn.code_challenge:
        params.update(code_challenge=txn.code_challenge, code_challenge_method=txn.code_challenge_method)
    return params


def load_open(txn_id: str, browser_token: str | None, read: dict | None = None) -> AuthorizationTransaction:
    """The open transaction, if this browser is the one FranceConnect sent (it holds
    ``browser_token``); ``read`` holds items already read with the aidant's session
    (``sessions.authenticate_with``), which saves the transaction its own round trip."""
    if read is not None:
        txn = read.get(T.key(txn_id))
    else:
        try:
            txn = T.get(*T.key(txn_id), consistent_read=True)
        except DoesNotExist:
            txn = None
    if not isinstance(txn, T):
        raise errors.NotFound("Cette demande de connexion est introuvable.", code=codes.TRANSACTION_NOT_FOUND)
    if txn.expires_at <= int(time.time()):
        # Before the browser check: the cookie lives as long as the transaction.
        raise errors.Gone(
            "Cette demande de connexion a expiré. Recommencez depuis le site de la démarche.",
            code=codes.TRANSACTION_EXPIRED,
        )
    if not _same_browser(txn, browser_token):
        raise errors.Forbidden(
            "Cette demande de connexion a été ouverte dans un autre navigateur. Recommencez "
            "depuis le site de la démarche, dans ce navigateur-ci.",
            code=codes.TRANSACTION_OTHER_BROWSER,
        )
    if txn.completed_at is not None:
        raise errors.Conflict("Cette demande de connexion a déjà été utilisée.", code=codes.TRANSACTION_COMPLETED)
    return txn


def _same_browser(txn: AuthorizationTransaction, browser_token: str | None) -> bool:
    if not txn.browser_hash or not browser_token or len(browser_token) > _MAX_BROWSER_COOKIE:
        return False
    return crypto.constant_time_equal(crypto.keyed_hash(browser_token, _BROWSER_PURPOSE), txn.browser_hash)


def _load_for(caller: Caller, txn_id: str, browser_token: str | None, read: dict | None):
    """:func:`load_open` for an aidant; its refusals are journaled (the aidant is
    authenticated: another browser's attempt is worth knowing about)."""
    try:
        return load_open(txn_id, browser_token, read)
    except errors.ApiError as err:
        found = (read or {}).get(T.key(txn_id))
        events.refused(
            "/api/fi/transactions",
            err.code,
            description=err.description,
            aidant_id=caller.aidant_id,
            structure_id=caller.structure_id,
            client_id=found.client_id if isinstance(found, T) else None,
        )
        raise


# What the offer shows, and nothing more: a structure may follow hundreds of usagers,
# and every attribute read is parsed on the request path.
_OFFER_AUTORISATION = [
    "usager_id",
    "demarche",
    "mandate_id",
    "expires_at",
    *(mine for mine, _ in Autorisation.USAGER_COPY),
]
_OFFER_USAGER = ["pk", "sk", "kind", "id", "given_name", "family_name", "preferred_username", "birthdate"]
_SHOWN = [theirs for _, theirs in Autorisation.USAGER_COPY]


def offer(caller: Caller, txn_id: str, browser_token: str | None, read: dict | None = None) -> dict:
    """The requesting service and the usagers the aidant's structure may act for,
    each with the démarches an active mandate covers: one Query, whose autorisations
    carry what is shown of their usager (``Autorisation.USAGER_COPY``). Only the
    usagers of autorisations signed before that copy existed are read (a BatchGet)."""
    txn = _load_for(caller, txn_id, browser_token, read)
    covered: dict[str, dict[str, dict]] = defaultdict(dict)
    shown: dict[str, dict] = {}
    for autorisation in mandates.active_autorisation_values(
        caller.structure_id, _OFFER_AUTORISATION, as_stored=frozenset({"expires_at"})
    ):
        uid = autorisation["usager_id"]
        covered[uid][autorisation["demarche"]] = autorisation
        if autorisation["usager_family_name"] is not None and uid not in shown:
            shown[uid] = {"id": uid, **{theirs: autorisation[mine] for mine, theirs in Autorisation.USAGER_COPY}}
    missing = [uid for uid in covered if uid not in shown]
    if missing:
        for stored in Usager.batch_get([Usager.key(uid) for uid in missing], attributes_to_get=_OFFER_USAGER):
            shown[stored.id] = {"id": stored.id, **{name: getattr(stored, name) for name in _SHOWN}}
    listed = []
    for usager in sorted(
        shown.values(), key=lambda u: ((u["family_name"] or "").lower(), (u["given_name"] or "").lower(), u["id"])
    ):
        listed.append(
            {
                **usager,
                "demarches": [
                    {
                        **demarche_json(key),
                        "mandate": a["mandate_id"],
                        "expires_at": mandates.iso_of_stored(a["expires_at"]),
                    }
                    for key, a in sorted(covered[usager["id"]].items())
                    if key in DEMARCHES
                ],
            }
        )
    return {
        "transaction": {
            "id": txn.id,
            "expires_at": mandates.iso(datetime.fromtimestamp(txn.expires_at, timezone.utc)),
            "prompt": txn.prompt,
            "login_hint": txn.login_hint,
        },
        "client": {"id": txn.client_id, "name": txn.client_name},
        # The structure whose mandates these are: the page shows it, and sends it back
        # with the choice (see ``choose``).
        "structure": {"id": caller.structure_id, "name": caller.structure.name if caller.structure else None},
        "usagers": listed,
    }


_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def choice_keys(request: Request) -> list[tuple[str, str]]:
    """The usager's and the autorisation's keys, if the body names them plausibly
    (read with the session; a body that is no JSON object names nothing, and is
    refused after the session is checked)."""
    try:
        body = json.loads(request.body) if request.body and len(request.body) <= settings().max_body_bytes else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return []
    if not isinstance(body, dict):
        return []
    usager_id, mandate_id, demarche = (body.get(name) for name in ("usager", "mandate", "demarche"))
    keys = []
    if isinstance(usager_id, str) and _ID.fullmatch(usager_id):
        keys.append(Usager.key(usager_id))
        if isinstance(mandate_id, str) and _ID.fullmatch(mandate_id) and demarche in DEMARCHES:
            keys.append(Autorisation.key(mandate_id, demarche))
    return keys


def choose(
    caller: Caller,
    txn_id: str,
    browser_token: str | None,
    body: dict,
    respond: Callable[[AuthorizationTransaction, Choice], Response],
    read: dict | None = None,
) -> Response:
    """Check the aidant's choice against the structure's mandates, then let
    ``respond(txn, choice)`` (Authlib) issue the code; returns its answer (where the
    browser goes).

    The autorisation named by ``mandate`` (the offer's) and the usager were read with
    the session; the code's transaction checks the autorisation again
    (``grants.issue_code``). Without ``mandate``, or when it no longer covers the
    démarche (renewed meanwhile), the structure's active autorisation is looked up."""
    read = read or {}
    who = dict(aidant_id=caller.aidant_id, structure_id=caller.structure_id)
    txn = _load_for(caller, txn_id, browser_token, read)
    usager_id = require_str(body, "usager", max_len=64, message="Choisissez l'usager.")
    demarche = require_str(body, "demarche", max_len=32, message="Choisissez la démarche.")
    mandate_id = body.get("mandate")
    if mandate_id is not None and not isinstance(mandate_id, str):
        raise errors.BadRequest("« mandate » doit être l'identifiant d'un mandat.", code=codes.INVALID_MANDATE)
    who.update(usager_id=usager_id, demarche=demarche, client_id=txn.client_id)
    shown = body.get("structure")
    if shown is not None and shown != caller.structure_id:
        # The page listed another structure's usagers: the aidant switched structure
        # (in another tab, say) since it was shown. Acting now would use the current
        # structure's mandate for a choice made among the other's.
        events.refused("/api/fi/transactions", "structure_switched", **who)
        raise errors.Conflict(
            "Vous agissez maintenant pour une autre structure que celle de cette liste d'usagers. "
            "La liste a été mise à jour : choisissez à nouveau.",
            code=codes.STRUCTURE_SWITCHED,
            extra={
                "structure": {"id": caller.structure_id, "name": caller.structure.name if caller.structure else None}
            },
        )
    auth_time = _authenticated_at(caller)
    if not _login_recent_enough(txn, auth_time):
        events.refused("/api/fi/transactions", "login_required", **who)
        raise errors.Unauthorized(
            "Le service demande une nouvelle connexion : reconnectez-vous.", code=codes.LOGIN_REQUIRED
        )
    autorisation = None
    if demarche in DEMARCHES:
        autorisation = read.get(Autorisation.key(mandate_id, demarche)) if mandate_id else None
        if not mandates.is_active_for(autorisation, caller.structure_id, usager_id, demarche):
            autorisation = mandates.active_autorisation(caller.structure_id, usager_id, demarche)
    usager = read.get(Usager.key(usager_id)) if autorisation is not None else None
    if autorisation is not None and not isinstance(usager, Usager):
        try:
            usager = Usager.get(*Usager.key(usager_id), consistent_read=True)
        except DoesNotExist:
            usager = None
    if autorisation is None or usager is None:
        # Another structure's usager, a démarche the mandate does not cover, a revoked
        # or expired mandate: all look the same from here, and all are journaled.
        events.refused("/api/fi/transactions", "not_covered_by_mandate", **who)
        raise no_active_mandate()
    choice = Choice(
        txn=txn,
        aidant_id=caller.aidant_id,
        structure_id=caller.structure_id,
        usager_id=usager_id,
        demarche=demarche,
        mandate_id=autorisation.mandate_id,
        auth_time=auth_time,
        usager=usager,
        structure=caller.structure,
    )
    return respond(txn, choice)


def no_active_mandate() -> errors.ApiError:
    return errors.Forbidden(
        "Aucun mandat actif de votre structure ne couvre cette démarche pour cet usager.", code=codes.NO_ACTIVE_MANDATE
    )


def _login_recent_enough(txn: AuthorizationTransaction, auth_time: int) -> bool:
    """OpenID Connect Core §3.1.2.1: ``prompt=login`` wants a login newer than the
    request; ``max_age`` one at most that many seconds older than the request (so
    ``max_age=0`` is ``prompt=login``). Measured from the request, not from the
    choice: the aidant who logs in when asked then has time to choose."""
    requested_at = epoch(txn.created_at)
    if txn.prompt and "login" in txn.prompt.split() and auth_time < requested_at:
        return False
    return txn.max_age is None or auth_time >= requested_at - int(txn.max_age)


def _authenticated_at(caller: Caller) -> int:
    """When the aidant logged in: sessions are opened at login and live a fixed time."""
    return int(caller.session.expires_at) - settings().session_ttl_seconds
