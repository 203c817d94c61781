"""Codes and tokens in the store, under moto: single use, replay revocation (even
while the first redemption is still in flight), one code per transaction, and the
mandate checked again at token time."""

import time
from types import SimpleNamespace

import pytest
from authlib.oauth2.rfc6749.errors import InvalidGrantError

from shared import crypto, errors, mandates
from shared.oidc import clients, grants, tokens
from shared.store import AccessToken, AuthorizationCode, AuthorizationTransaction, Autorisation, now

IDENTITY = {"given_name": "Angela Claire Louise", "family_name": "DUBOIS", "birthdate": "1962-08-24"}


@pytest.fixture
def setting(moto_store):
    usager = mandates.upsert_usager("fc-angela", IDENTITY)
    mandate = mandates.create(
        mandates.NewMandate(
            structure_id="s1",
            usager=usager,
            demarches=["papiers"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id="a1",
            aidant_name="Camille Fwolk",
            text_snapshot="Mentions",
        )
    )
    clients.register("fc", "FranceConnect", ["https://fc.example/cb"], client_secret="s" * 43)
    clients.register("other", "Autre", ["https://other.example/cb"], client_secret="o" * 43)
    return SimpleNamespace(usager=usager, mandate=mandate, client=clients.find("fc"), other=clients.find("other"))


def _transaction(txn_id="t1") -> AuthorizationTransaction:
    now_s = int(time.time())
    txn = AuthorizationTransaction(
        *AuthorizationTransaction.key(txn_id),
        id=txn_id,
        client_id="fc",
        client_name="FranceConnect",
        redirect_uri="https://fc.example/cb",
        scope="openid profile",
        state="st",
        nonce="no",
        acr="eidas1",
        expires_at=now_s + 600,
        ttl=now_s + 600,
        created_at=now(),
    )
    txn.save()
    return txn


def _issue(setting, code="the-code", txn=None, legacy=False) -> str:
    """A code as the aidant's choice issues it: with the usager and the structure read
    with the session (``legacy``: as codes were written before they carried them)."""
    txn = txn or _transaction()
    structure = SimpleNamespace(id="s1", name="Maison France Services", address="1 rue de la Paix")
    choice = grants.Choice(
        txn=txn,
        aidant_id="a1",
        structure_id="s1",
        usager_id=setting.usager.id,
        demarche="papiers",
        mandate_id=setting.mandate.id,
        auth_time=int(time.time()),
        usager=None if legacy else setting.usager,
        structure=None if legacy else structure,
    )
    request = SimpleNamespace(
        user=choice, client=setting.client, scope=txn.scope, payload=SimpleNamespace(redirect_uri=txn.redirect_uri)
    )
    grants.issue_code(code, request)
    return code


def _token_for(setting, code: grants.Code, access_token="the-token") -> AccessToken:
    user = grants.still_represented(code, setting.client)
    request = SimpleNamespace(authorization_code=code, user=user, client=setting.client)
    return tokens.save({"access_token": access_token, "expires_in": 300, "scope": "openid profile"}, request)


def test_code_is_redeemed_once(setting):
    code = _issue(setting)
    first = grants.redeem_code(code, setting.client)
    assert first.get_nonce() == "no"
    _token_for(setting, first)
    with pytest.raises(InvalidGrantError):
        grants.redeem_code(code, setting.client)


def test_a_code_is_consumed_by_the_token_write_not_by_reading_it(setting):
    """A request that checked the code and then failed (a 503) has consumed nothing."""
    code = _issue(setting)
    grants.redeem_code(code, setting.client)
    assert _token_for(setting, grants.redeem_code(code, setting.client))


def test_replay_after_the_first_token_revokes_it(setting):
    code = _issue(setting)
    first = grants.redeem_code(code, setting.client)
    token = _token_for(setting, first)
    with pytest.raises(InvalidGrantError):
        grants.redeem_code(code, setting.client)
    assert AccessToken.get(token.pk, token.sk).revoked_at is not None


def test_replay_while_the_first_redemption_is_in_flight_leaves_no_token(setting):
    code = _issue(setting)
    first = grants.redeem_code(code, setting.client)  # checked, token not yet stored
    replay = grants.redeem_code(code, setting.client)  # a concurrent redemption...
    stolen = _token_for(setting, replay, access_token="the-replayed-token")  # ...wins the race
    with pytest.raises(InvalidGrantError):
        _token_for(setting, first)  # the loser finds the code used: a replay
    with pytest.raises(AccessToken.DoesNotExist):
        AccessToken.get(*AccessToken.key(crypto.keyed_hash("the-token", tokens.TOKEN_PURPOSE)))
    assert AccessToken.get(stolen.pk, stolen.sk).revoked_at is not None


def test_code_of_another_client_is_refused_and_not_consumed(setting):
    code = _issue(setting)
    with pytest.raises(InvalidGrantError):
        grants.redeem_code(code, setting.other)
    assert _token_for(setting, grants.redeem_code(code, setting.client))


def test_expired_code_is_refused(setting):
    code = _issue(setting)
    item = AuthorizationCode(*AuthorizationCode.key(crypto.keyed_hash(code, grants.CODE_PURPOSE)))
    item.update(actions=[AuthorizationCode.expires_at.set(int(time.time()) - 1)])
    with pytest.raises(InvalidGrantError):
        grants.redeem_code(code, setting.client)


def test_unknown_or_oversized_code_is_refused(setting):
    for code in ("nope", "x" * 500, ""):
        with pytest.raises(InvalidGrantError):
            grants.redeem_code(code, setting.client)


def test_a_transaction_yields_one_code(setting):
    txn = _transaction()
    _issue(setting, "code-1", txn)
    with pytest.raises(errors.Conflict):
        _issue(setting, "code-2", txn)


def test_expired_transaction_yields_no_code(setting):
    txn = _transaction()
    txn.update(actions=[AuthorizationTransaction.expires_at.set(int(time.time()) - 1)])
    with pytest.raises(errors.Conflict):
        _issue(setting, "code-1", txn)


def _revoke(setting):
    Autorisation(*Autorisation.key(setting.mandate.id, "papiers")).update(
        actions=Autorisation.closing_actions(now(), "a1")
    )


def _renew(setting):
    return mandates.create(
        mandates.NewMandate(
            structure_id="s1",
            usager=setting.usager,
            demarches=["papiers"],
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id="a1",
            aidant_name="Camille Fwolk",
            text_snapshot="Mentions",
        )
    )


def test_revoked_mandate_is_caught_by_the_tokens_own_transaction_and_the_code_stays_unused(setting):
    code = _issue(setting)
    redeemed = grants.redeem_code(code, setting.client)
    _revoke(setting)
    with pytest.raises(InvalidGrantError) as refused:
        _token_for(setting, redeemed)
    assert "mandat" in refused.value.description
    item = AuthorizationCode.get(*AuthorizationCode.key(crypto.keyed_hash(code, grants.CODE_PURPOSE)))
    assert item.used_at is None and item.access_token_hash is None


def test_renewed_mandate_still_covers_the_choice(setting):
    redeemed = grants.redeem_code(_issue(setting), setting.client)
    _renew(setting)
    assert _token_for(setting, redeemed).usager_id == setting.usager.id


def test_the_token_endpoint_reads_nothing_but_the_code(setting):
    """The code carries the usager's identity and the structure's name: redeeming it
    is the GetItem of the code, then one transaction (DynamoDB calls counted)."""
    from shared import store

    code = _issue(setting)
    store.calls.reset()
    redeemed = grants.redeem_code(code, setting.client)
    user = grants.still_represented(redeemed, setting.client)
    assert user.usager.family_name == "DUBOIS" and user.structure.name == "Maison France Services"
    _token_for(setting, redeemed)
    assert store.calls.operations == ["GetItem", "TransactWriteItems"]


def test_a_code_written_before_it_carried_the_identity_is_checked_the_former_way(setting):
    legacy = grants.redeem_code(_issue(setting, legacy=True), setting.client)
    assert grants.still_represented(legacy, setting.client).usager.family_name == "DUBOIS"
    _revoke(setting)
    with pytest.raises(InvalidGrantError):
        grants.still_represented(legacy, setting.client)


def test_a_mandate_revoked_after_the_choice_read_it_issues_no_code(setting):
    """The choice read the autorisation with the session; the code's transaction
    checks it again: revoked in between, no code and the transaction stays open."""
    txn = _transaction()
    _revoke(setting)
    with pytest.raises(errors.Forbidden) as refused:
        _issue(setting, "code-1", txn)
    assert refused.value.code == "no_active_mandate"
    assert AuthorizationTransaction.get(*AuthorizationTransaction.key(txn.id)).completed_at is None


def test_client_secret_is_kept_hashed_and_only_legacy_secrets_are_sealed(setting):
    item, secret = clients.register("legacy", "Ancien", ["https://l.example/cb"], legacy_hs256=True)
    assert secret not in (item.secret_hash, item.sealed_secret)
    legacy = clients.find("legacy")
    assert legacy.check_client_secret(secret) and not legacy.check_client_secret(secret + "x")
    assert legacy.clear_secret() == secret and legacy.is_legacy
    assert setting.client.item.sealed_secret is None
    with pytest.raises(ValueError):
        setting.client.clear_secret()


def test_hs256_is_refused_outside_the_legacy_registration(moto_store):
    with pytest.raises(ValueError):
        clients.register("x", "X", ["https://x.example/cb"], id_token_signed_response_alg="HS256")
    with pytest.raises(ValueError):
        clients.register("x", "X", ["https://x.example/cb"], userinfo_signed_response_alg="HS256")
    clients.register("x", "X", ["https://x.example/cb"], legacy_hs256=True, userinfo_signed_response_alg="HS256")
