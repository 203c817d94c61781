"""The identity provider's offer (GET /api/fi/transactions/{txn}) under moto: one
Query whose autorisations carry what is shown of their usagers, and the usagers of
autorisations written before that copy existed read in one BatchGet."""

import time
from types import SimpleNamespace

from shared import crypto, mandates, store
from shared.oidc import transactions
from shared.store import AuthorizationTransaction, Autorisation, now


def _usager(sub, family_name):
    return mandates.upsert_usager(sub, {"given_name": "Prénom", "family_name": family_name, "birthdate": "1970-01-01"})


def _mandate(usager, demarches=("papiers",)):
    return mandates.create(
        mandates.NewMandate(
            structure_id="s1",
            usager=usager,
            demarches=list(demarches),
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id="a1",
            aidant_name="Camille Fwolk",
            text_snapshot="Mentions",
        )
    )


def _open_transaction():
    now_s = int(time.time())
    browser = crypto.new_token()
    txn = AuthorizationTransaction(
        *AuthorizationTransaction.key("t1"),
        id="t1",
        client_id="fc",
        client_name="FranceConnect",
        redirect_uri="https://fc.example/cb",
        scope="openid",
        state="st",
        nonce="no",
        acr="eidas1",
        browser_hash=crypto.keyed_hash(browser, "oidc-browser"),
        expires_at=now_s + 600,
        ttl=now_s + 600,
        created_at=now(),
    )
    txn.save()
    return txn, browser


def _offer():
    txn, browser = _open_transaction()
    caller = SimpleNamespace(aidant_id="a1", structure_id="s1", structure=None)
    read = {AuthorizationTransaction.key(txn.id): txn}  # as read with the session
    store.calls.reset()
    return transactions.offer(caller, txn.id, browser, read), list(store.calls.operations)


def test_the_offer_is_one_query_when_autorisations_carry_their_usagers(moto_store):
    for index, name in enumerate(("MARTIN", "DUBOIS", "BERNARD")):
        _mandate(_usager(f"sub-{index}", name), ("papiers", "argent"))
    offer, operations = _offer()
    assert operations == ["Query"]
    assert [u["family_name"] for u in offer["usagers"]] == ["BERNARD", "DUBOIS", "MARTIN"]
    assert [d["key"] for d in offer["usagers"][0]["demarches"]] == ["argent", "papiers"]
    assert set(offer["usagers"][0]) == {
        "id",
        "given_name",
        "family_name",
        "preferred_username",
        "birthdate",
        "demarches",
    }


def test_autorisations_written_before_the_copy_have_their_usagers_read(moto_store):
    current = _usager("sub-1", "MARTIN")
    _mandate(current)
    older = _usager("sub-2", "DUBOIS")
    mandate = _mandate(older)
    # As signed before the copy existed: no display fields on the autorisation.
    Autorisation(*Autorisation.key(mandate.id, "papiers")).update(
        actions=[getattr(Autorisation, mine).remove() for mine, _ in Autorisation.USAGER_COPY]
    )
    offer, operations = _offer()
    assert operations == ["Query", "BatchGetItem"]
    assert [(u["id"], u["family_name"]) for u in offer["usagers"]] == [(older.id, "DUBOIS"), (current.id, "MARTIN")]
