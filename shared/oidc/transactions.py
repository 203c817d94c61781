"""Authorization transactions: a validated request from FranceConnect, waiting for
an aidant of a structure to pick the usager and the démarche.

``/oidc/authorize`` stores one and sends the browser to the front-end
(``/fi/?txn=<id>``); the front-end reads the choices (:func:`offer`) and sends the
aidant's decision (:func:`choose`), which issues the code through Authlib. The
transaction id is the only handle the browser holds: random, 128 bits.
"""
from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist

from .. import crypto, errors, journal, mandates
from ..config import settings
from ..demarches import DEMARCHES, as_json as demarche_json
from ..http import require_str
from ..sessions import Caller
from ..store import AuthorizationTransaction, Usager, epoch, now, transaction
from . import claims, events
from .grants import Choice

TRANSACTION_TTL = 600  # the aidant logs in (TOTP + e-mailed link) and picks, within this
T = AuthorizationTransaction


def open_transaction(grant) -> AuthorizationTransaction:
    """Store the request Authlib validated; journal it."""
    request = grant.request
    data = request.payload.data
    now_s = int(time.time())
    txn_id = crypto.new_id(16)
    pk, sk = T.key(txn_id)
    txn = T(pk=pk, sk=sk, id=txn_id, client_id=request.client.get_client_id(), client_name=request.client.name,
            redirect_uri=grant.redirect_uri, scope=request.scope, state=data["state"], nonce=data["nonce"],
            acr=claims.ACR, code_challenge=data.get("code_challenge") or None,
            code_challenge_method=data.get("code_challenge_method") or None,
            prompt=data.get("prompt") or None, login_hint=data.get("login_hint") or None,
            max_age=int(data["max_age"]) if data.get("max_age") else None,
            expires_at=now_s + TRANSACTION_TTL, ttl=now_s + TRANSACTION_TTL, created_at=now())
    with transaction() as tx:
        tx.save(txn, condition=T.pk.does_not_exist())
        tx.save(journal.entry(events.TRANSACTION_OPENED, client_id=txn.client_id,
                              details={"transaction": txn_id, "scope": txn.scope, "acr": txn.acr,
                                       "pkce": bool(txn.code_challenge)}),
                condition=journal.append_condition())
    return txn


def frontend_url(txn: AuthorizationTransaction) -> str:
    return f"{settings().frontend_url}/fi/?txn={txn.id}"


def authorization_params(txn: AuthorizationTransaction) -> dict[str, str]:
    """The request as FranceConnect sent it, for Authlib to check again and answer."""
    params = {"response_type": "code", "client_id": txn.client_id, "redirect_uri": txn.redirect_uri,
              "scope": txn.scope, "state": txn.state, "nonce": txn.nonce, "acr_values": txn.acr}
    if txn.code_challenge:
        params.update(code_challenge=txn.code_challenge, code_challenge_method=txn.code_challenge_method)
    return params


def load_open(txn_id: str, read: dict | None = None) -> AuthorizationTransaction:
    """The open transaction; ``read`` holds items already read with the aidant's session
    (``sessions.authenticate_with``), which saves the transaction its own round trip."""
    if read is not None:
        txn = read.get(T.key(txn_id))
    else:
        try:
            txn = T.get(*T.key(txn_id), consistent_read=True)
        except DoesNotExist:
            txn = None
    if not isinstance(txn, T):
        raise errors.NotFound("Cette demande de connexion est introuvable.", code="transaction_not_found")
    if txn.completed_at is not None:
        raise errors.Conflict("Cette demande de connexion a déjà été utilisée.", code="transaction_completed")
    if txn.expires_at <= int(time.time()):
        raise errors.Gone("Cette demande de connexion a expiré. Recommencez depuis le site de la démarche.",
                          code="transaction_expired")
    return txn


# What the offer shows, and nothing more: a structure may follow hundreds of usagers,
# and every attribute read is parsed on the request path.
_OFFER_AUTORISATION = ["usager_id", "demarche", "mandate_id", "expires_at"]
_OFFER_USAGER = ["pk", "sk", "kind", "id", "given_name", "family_name", "preferred_username", "birthdate"]


def offer(caller: Caller, txn_id: str, read: dict | None = None) -> dict:
    """The requesting service and the usagers the aidant's structure may act for,
    each with the démarches an active mandate covers: one Query, one BatchGet."""
    txn = load_open(txn_id, read)
    covered: dict[str, dict[str, dict]] = defaultdict(dict)
    for autorisation in mandates.active_autorisation_values(caller.structure_id, _OFFER_AUTORISATION):
        covered[autorisation["usager_id"]][autorisation["demarche"]] = autorisation
    usagers = Usager.batch_get([Usager.key(uid) for uid in covered],
                               attributes_to_get=_OFFER_USAGER) if covered else []
    listed = []
    for usager in sorted(usagers, key=lambda u: (u.family_name.lower(), u.given_name.lower(), u.id)):
        listed.append({
            "id": usager.id, "given_name": usager.given_name, "family_name": usager.family_name,
            "preferred_username": usager.preferred_username, "birthdate": usager.birthdate,
            "demarches": [{**demarche_json(key), "mandate": a["mandate_id"], "expires_at": mandates.iso(a["expires_at"])}
                          for key, a in sorted(covered[usager.id].items()) if key in DEMARCHES],
        })
    return {
        "transaction": {"id": txn.id, "expires_at": mandates.iso(datetime.fromtimestamp(txn.expires_at, timezone.utc)),
                        "prompt": txn.prompt,
                        "login_hint": txn.login_hint},
        "client": {"id": txn.client_id, "name": txn.client_name},
        "usagers": listed,
    }


def choose(caller: Caller, txn_id: str, body: dict, respond, read: dict | None = None) -> str:
    """Check the aidant's choice against the structure's mandates, then let
    ``respond(txn, choice)`` (Authlib) issue the code; returns where the browser goes."""
    who = dict(aidant_id=caller.aidant_id, structure_id=caller.structure_id)
    try:
        txn = load_open(txn_id, read)
    except errors.ApiError as err:
        events.refused("/api/fi/transactions", err.code, description=err.description, **who)
        raise
    usager_id = require_str(body, "usager", max_len=64, message="Choisissez l'usager.")
    demarche = require_str(body, "demarche", max_len=32, message="Choisissez la démarche.")
    who.update(usager_id=usager_id, demarche=demarche, client_id=txn.client_id)
    auth_time = _authenticated_at(caller)
    if not _login_recent_enough(txn, auth_time):
        events.refused("/api/fi/transactions", "login_required", **who)
        raise errors.Unauthorized("Le service demande une nouvelle connexion : reconnectez-vous.",
                                  code="login_required")
    autorisation = mandates.active_autorisation(caller.structure_id, usager_id, demarche) \
        if demarche in DEMARCHES else None
    if autorisation is None:
        # Another structure's usager, a démarche the mandate does not cover, a revoked
        # or expired mandate: all look the same from here, and all are journaled.
        events.refused("/api/fi/transactions", "not_covered_by_mandate", **who)
        raise errors.Forbidden("Aucun mandat actif de votre structure ne couvre cette démarche pour cet usager.",
                               code="no_active_mandate")
    choice = Choice(txn=txn, aidant_id=caller.aidant_id, structure_id=caller.structure_id,
                    usager_id=usager_id, demarche=demarche, mandate_id=autorisation.mandate_id,
                    auth_time=auth_time)
    return respond(txn, choice)


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
