"""The authorization code grant (RFC 6749 §4.1) with OpenID Connect (Core §3.1) and
PKCE (RFC 7636): Authlib runs the protocol, these classes store and check codes.

A code is issued when the aidant picks a usager and a démarche: the code, the
transaction's completion and the journal entries are one ``TransactWrite``, so a
transaction yields at most one code. It is redeemed by one conditional update that
checks, in the same write, that it is unused, unexpired and issued to this client.
A second redemption revokes the token issued by the first (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc7636 import CodeChallenge as _CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.models import AuthorizationCodeMixin
from pynamodb.exceptions import DoesNotExist

from .. import crypto, journal, mandates
from .. import error_codes as codes
from .. import errors as api_errors
from ..config import settings
from ..store import (
    AuthorizationCode,
    AuthorizationTransaction,
    Autorisation,
    Mandate,
    Structure,
    Usager,
    now,
    read,
    transaction,
    writes,
)
from . import claims, clients, events, tokens
from .errors import fr, with_iss

CODE_PURPOSE = "oidc-code"


@dataclass
class Choice:
    """What the aidant decided at ``POST /api/fi/transactions/{txn}``: Authlib's
    ``grant_user`` when the code is issued."""

    txn: AuthorizationTransaction
    aidant_id: str
    structure_id: str
    usager_id: str
    demarche: str
    mandate_id: str
    auth_time: int
    usager: Usager | None = None  # read with the session: its identity goes on the code
    structure: Structure | None = None  # the aidant's, read with the session: for the usager's e-mail


@dataclass
class Represented:
    """The usager an aidant acts for, as the token endpoint finds them: Authlib's
    ``user`` when the ID token is made."""

    usager: Usager | claims.Identity
    client_id: str
    code: AuthorizationCode
    structure: Structure | SimpleNamespace | None = None  # for the usager's e-mail
    # The autorisation the token's transaction checks (``tokens.save``): the code's,
    # or the one that renewed it.
    autorisation_key: tuple[str, str] | None = None


class Code(AuthorizationCodeMixin):
    def __init__(self, item: AuthorizationCode, code_hash: str):
        self.item = item
        self.code_hash = code_hash
        # Read by Authlib's CodeChallenge.
        self.code_challenge = item.code_challenge
        self.code_challenge_method = item.code_challenge_method

    def get_redirect_uri(self):
        return self.item.redirect_uri

    def get_scope(self):
        return self.item.scope

    def get_nonce(self):
        return self.item.nonce

    def get_auth_time(self):
        return int(self.item.auth_time)

    def get_acr(self):
        return self.item.acr

    def get_amr(self):
        return None

    def redeem_condition(self, client):
        return redeem_condition(client)

    def refuse(self, client) -> None:
        refuse_redemption(self.code_hash, client)


class OrderedHooks(dict):
    """The set Authlib keeps a hook point's functions in, but iterated in
    registration order: with a plain set, the order follows the functions' hashes
    (their addresses), so when two checks would both fail, which one answered varied
    from one process to the next."""

    def add(self, hook) -> None:
        self[hook] = None


def ordered_hooks() -> defaultdict:
    return defaultdict(OrderedHooks)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = clients.AUTH_METHODS

    def __init__(self, request, server):
        super().__init__(request, server)
        self._hooks = ordered_hooks()

    def create_authorization_response(self, redirect_uri, grant_user):
        status, body, headers = super().create_authorization_response(redirect_uri, grant_user)
        # RFC 9207: code, state, then iss.
        return status, body, [(name, with_iss(value) if name == "Location" else value) for name, value in headers]

    def save_authorization_code(self, code, request):
        issue_code(code, request)

    def query_authorization_code(self, code, client):
        return redeem_code(code, client)

    def delete_authorization_code(self, authorization_code):
        pass  # kept (consumed) until its ttl, to recognise a replay

    def authenticate_user(self, authorization_code):
        return still_represented(authorization_code, self.request.client)


class OpenIDCode(oidc_grants.OpenIDCode):
    """The ID token (OpenID Connect Core §2, §3.1.3.6)."""

    def exists_nonce(self, nonce, request):
        # Replayed nonces are the relying party's check (Core §15.5.2); here the
        # nonce is required and bound into the ID token, and codes are single-use.
        return False

    def get_client_algorithm(self, client):
        return tokens.signing_alg(client, client.id_token_signed_response_alg)

    def get_encode_header(self, client):
        return tokens.jws_header(client, self.get_client_algorithm(client))

    def resolve_client_private_key(self, client):
        return tokens.signing_key(client, self.get_client_algorithm(client))

    def get_client_claims(self, client):
        issued = int(time.time())
        return {
            "iss": settings().issuer,
            "aud": client.get_client_id(),
            "iat": issued,
            "exp": issued + tokens.ID_TOKEN_TTL,
        }

    def generate_user_info(self, user: Represented, scope):
        return claims.user_info(user.usager, user.client_id, scope)


class CodeChallenge(_CodeChallenge):
    """PKCE with S256 only: ``plain`` protects nothing against a leaked request."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)


# -- issuing -----------------------------------------------------------------------


def issue_code(code: str, request) -> AuthorizationCode:
    """The code, the transaction's completion and the journal entries, in one
    transaction that also checks the autorisation (``ConditionCheck``): a mandate
    revoked since it was read at the choice issues no code. The usager's identity
    and the structure's name go on the code, for the token endpoint."""
    choice: Choice = request.user
    txn = choice.txn
    now_s = int(time.time())
    pk, sk = AuthorizationCode.key(crypto.keyed_hash(code, CODE_PURPOSE))
    structure = choice.structure
    item = AuthorizationCode(
        pk=pk,
        sk=sk,
        client_id=request.client.get_client_id(),
        redirect_uri=request.payload.redirect_uri,
        scope=request.scope,
        nonce=txn.nonce,
        acr=txn.acr,
        auth_time=choice.auth_time,
        code_challenge=txn.code_challenge,
        code_challenge_method=txn.code_challenge_method,
        txn_id=txn.id,
        aidant_id=choice.aidant_id,
        structure_id=choice.structure_id,
        usager_id=choice.usager_id,
        demarche=choice.demarche,
        mandate_id=choice.mandate_id,
        expires_at=now_s + tokens.CODE_TTL,
        usager_claims=claims.identity_json(choice.usager) if choice.usager is not None else None,
        structure_name=structure.name if structure is not None else None,
        structure_address=(structure.address or "") if structure is not None else None,
        # Outlives the code so that a replay can still revoke the token (see module doc).
        ttl=now_s + tokens.CODE_TTL + tokens.ACCESS_TOKEN_TTL + 60,
        created_at=now(),
    )
    who = dict(
        aidant_id=choice.aidant_id,
        structure_id=choice.structure_id,
        usager_id=choice.usager_id,
        mandate_id=choice.mandate_id,
        demarche=choice.demarche,
        client_id=item.client_id,
    )
    T = AuthorizationTransaction
    autorisation_key = Autorisation.key(choice.mandate_id, choice.demarche)
    # Another request completed it first (or it expired meanwhile): 409.
    completed = api_errors.Conflict(
        "Cette demande de connexion a déjà été utilisée ou a expiré.", code=codes.TRANSACTION_COMPLETED
    )
    try:
        with transaction(completed) as tx:
            tx.condition_check(
                Autorisation,
                *autorisation_key,
                condition=mandates.covers_condition(choice.structure_id, choice.usager_id),
            )
            tx.update(
                T(*T.key(txn.id)),
                actions=[
                    T.completed_at.set(now_s),
                    T.aidant_id.set(choice.aidant_id),
                    T.usager_id.set(choice.usager_id),
                    T.demarche.set(choice.demarche),
                    T.mandate_id.set(choice.mandate_id),
                ],
                condition=T.pk.exists() & T.completed_at.does_not_exist() & (T.expires_at > now_s),
            )
            tx.save(item, condition=AuthorizationCode.pk.does_not_exist())
            tx.save(
                journal.entry(events.USAGER_CHOSEN, **who, details={"transaction": txn.id}),
                condition=journal.append_condition(),
            )
            tx.save(
                journal.entry(
                    events.CODE_ISSUED, **who, details={"transaction": txn.id, "expires_in": tokens.CODE_TTL}
                ),
                condition=journal.append_condition(),
            )
    except api_errors.Conflict as err:
        refused = writes.refused_keys(tx, err.__cause__) if err is completed else set()
        if autorisation_key in refused and T.key(txn.id) not in refused:
            # Revoked (or renewed) between the choice's read and this write.
            events.refused(
                "/api/fi/transactions",
                "not_covered_by_mandate",
                aidant_id=choice.aidant_id,
                structure_id=choice.structure_id,
                usager_id=choice.usager_id,
                demarche=choice.demarche,
                client_id=item.client_id,
            )
            raise api_errors.Forbidden(
                "Aucun mandat actif de votre structure ne couvre cette démarche pour cet usager.",
                code=codes.NO_ACTIVE_MANDATE,
            ) from err
        raise
    return item


# -- redeeming ---------------------------------------------------------------------


def redeem_code(code: str, client) -> Code:
    """The code, if it may be redeemed by ``client`` now. Nothing is written here: the
    code is consumed by the token's own transaction (``tokens.save``), under the same
    conditions, so that a request that answers 503 has consumed nothing."""
    if not isinstance(code, str) or not code or len(code) > 128:
        raise InvalidGrantError(fr("Code d'autorisation invalide."))
    code_hash = crypto.keyed_hash(code, CODE_PURPOSE)
    try:
        item = AuthorizationCode.get(*AuthorizationCode.key(code_hash), consistent_read=True)
    except DoesNotExist as err:
        raise InvalidGrantError(fr("Code d'autorisation inconnu.")) from err
    if not redeemable(item, client):
        refuse_redemption(code_hash, client, item)
    return Code(item, code_hash)


def redeemable(item: AuthorizationCode, client) -> bool:
    return item.used_at is None and item.expires_at > int(time.time()) and item.client_id == client.get_client_id()


def redeem_condition(client):
    """What ``redeemable`` checks, as the condition of the write that consumes the code."""
    C = AuthorizationCode
    return (
        C.pk.exists()
        & C.used_at.does_not_exist()
        & C.replayed_at.does_not_exist()
        & (C.expires_at > int(time.time()))
        & (C.client_id == client.get_client_id())
    )


def refuse_redemption(code_hash: str, client, item: AuthorizationCode | None = None) -> None:
    """Why ``item`` (read again when not given) cannot be redeemed, as Authlib's error;
    a used code is a replay, which revokes what its first redemption got."""
    if item is None:
        try:
            item = AuthorizationCode.get(*AuthorizationCode.key(code_hash), consistent_read=True)
        except DoesNotExist as err:
            raise InvalidGrantError(fr("Code d'autorisation inconnu.")) from err
    if item.client_id != client.get_client_id():
        # Not consumed: the code stays usable by the client it was issued to.
        raise InvalidGrantError(fr("Ce code d'autorisation a été émis pour un autre client."))
    if item.used_at is not None:
        revoked = _revoke_after_replay(item)
        raise InvalidGrantError(
            fr(
                "Ce code d'autorisation a déjà été utilisé"
                + (" ; le jeton émis avec lui est révoqué." if revoked else ".")
            )
        )
    raise InvalidGrantError(fr("Ce code d'autorisation a expiré."))


def _revoke_after_replay(item: AuthorizationCode) -> bool:
    """RFC 6749 §4.1.2: a replayed code revokes what the first redemption got.
    ``replayed_at`` also makes a redemption still in flight fail when it tries to
    consume the code (``redeem_condition``), so no token survives."""
    item.update(actions=[AuthorizationCode.replayed_at.set(int(time.time()))])
    revoked = bool(item.access_token_hash) and tokens.revoke(item.access_token_hash)
    journal.record(
        events.CODE_REPLAYED,
        aidant_id=item.aidant_id,
        structure_id=item.structure_id,
        usager_id=item.usager_id,
        mandate_id=item.mandate_id,
        demarche=item.demarche,
        client_id=item.client_id,
        details={"token_revoked": revoked},
    )
    return revoked


def covers(autorisation, grant, mandate_revoked: bool = False) -> bool:
    """Whether ``autorisation`` (or, once renewed, its successor) still lets the
    structure of ``grant`` (a code or an access token) act for its usager on its
    démarche. A whole mandate's revocation revokes each of its autorisations in the
    same write, so the autorisation alone tells (the mandate is read when at hand)."""
    if (
        isinstance(autorisation, Autorisation)
        and not mandate_revoked
        and autorisation.revoked_at is None
        and autorisation.expires_at > now()
        and autorisation.structure_id == grant.structure_id
    ):
        return True
    if isinstance(autorisation, Autorisation) and autorisation.replaced_by:
        # Renewed meanwhile: the new mandate may cover the same démarche.
        return mandates.active_autorisation(grant.structure_id, grant.usager_id, grant.demarche) is not None
    return False


def still_represented(code: Code, client) -> Represented:
    """The usager the code was issued for, and the autorisation the token's
    transaction must find still active (``tokens.save`` checks it there, in the same
    write that consumes the code: a revocation since the choice stops the token).
    The code carries the usager's identity and the structure's name: nothing is read.

    A code written before it carried them (at a deploy) is checked the former way:
    mandate, autorisation, usager and structure in one strongly consistent BatchGet."""
    item = code.item
    if item.usager_claims:
        return Represented(
            usager=claims.identity_from(item.usager_claims),
            client_id=client.get_client_id(),
            code=item,
            structure=SimpleNamespace(
                id=item.structure_id, name=item.structure_name or "", address=item.structure_address or ""
            ),
            autorisation_key=Autorisation.key(item.mandate_id, item.demarche),
        )
    keys = [
        Mandate.key(item.mandate_id),
        Autorisation.key(item.mandate_id, item.demarche),
        Usager.key(item.usager_id),
        Structure.key(item.structure_id),
    ]
    found = read(keys, consistent=True)
    mandate, autorisation, usager, structure = (found.get(k) for k in keys)
    mandate_revoked = not isinstance(mandate, Mandate) or mandate.revoked_at is not None
    if not covers(autorisation, item, mandate_revoked) or not isinstance(usager, Usager):
        raise mandate_no_longer_covers()
    return Represented(
        usager=usager,
        client_id=client.get_client_id(),
        code=item,
        structure=structure if isinstance(structure, Structure) else None,
        autorisation_key=covering_key(autorisation, item),
    )


def mandate_no_longer_covers() -> InvalidGrantError:
    return InvalidGrantError(fr("Le mandat ne couvre plus cette démarche pour cet usager (révoqué ou expiré)."))


def covering_key(autorisation, grant) -> tuple[str, str] | None:
    """The key of the active autorisation that lets ``grant``'s structure act for its
    usager on its démarche: ``autorisation`` itself, or the one that renewed it; None
    when there is none (``covers`` says the same, without the key)."""
    if mandates.is_active_for(autorisation, grant.structure_id, grant.usager_id, grant.demarche):
        return Autorisation.key(autorisation.mandate_id, autorisation.demarche)
    if isinstance(autorisation, Autorisation) and autorisation.replaced_by:
        successor = mandates.active_autorisation(grant.structure_id, grant.usager_id, grant.demarche)
        if successor is not None:
            return Autorisation.key(successor.mandate_id, successor.demarche)
    return None
