"""Signing keys: loaded once per process from the secret, several published, the
newest of each algorithm signs; rotation keeps old tokens verifiable."""

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from shared import config
from shared.oidc import keys


@pytest.fixture
def key_secret(monkeypatch):
    def install(jwks: dict):
        monkeypatch.setenv("SECRET_OIDC_SIGNING_KEYS", json.dumps(jwks))
        config.reset_caches()
        keys.reset_caches()
        return keys.current()

    monkeypatch.setenv("SECRETS_DIR", "/nonexistent")
    monkeypatch.delenv("LOCAL_SECRETS_DIR", raising=False)
    yield install
    config.reset_caches()
    keys.reset_caches()


def test_first_key_sets_the_default_algorithm_and_every_key_is_published(key_secret):
    loaded = key_secret(keys.new_jwks(("ES256", "RS256")))
    assert loaded.default_alg == "ES256" and loaded.algorithms == ["ES256", "RS256"]
    published = loaded.public_jwks()["keys"]
    assert [k["alg"] for k in published] == ["ES256", "RS256"]
    assert all(k["kid"] and k["use"] == "sig" for k in published)


def test_published_keys_carry_no_private_part(key_secret):
    loaded = key_secret(keys.new_jwks())
    for key in loaded.public_jwks()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), key
    assert not any(k.is_private for k in KeySet.import_key_set(loaded.public_jwks()).keys)


def test_after_rotation_the_new_key_signs_and_old_tokens_still_verify(key_secret):
    before = keys.new_jwks()
    old = key_secret(before)
    old_key = old.signing_key("ES256")
    old_token = jwt.encode({"alg": "ES256", "kid": old_key.kid}, {"sub": "x"}, old_key)

    rotated = key_secret(keys.rotate(before))
    new_key = rotated.signing_key("ES256")
    assert new_key.kid != old_key.kid
    assert rotated.signing_key("RS256").kid == old.signing_key("RS256").kid  # untouched
    published = KeySet.import_key_set(rotated.public_jwks())
    assert {k.kid for k in published.keys} >= {old_key.kid, new_key.kid}
    assert jwt.decode(old_token, published).claims["sub"] == "x"


def test_rotation_of_another_algorithm_only_replaces_that_signer(key_secret):
    before = keys.new_jwks()
    old = key_secret(before)
    rotated = key_secret(keys.rotate(before, "RS256"))
    assert rotated.default_alg == "ES256"  # rotating a key does not change the default
    assert rotated.signing_key("ES256").kid == old.signing_key("ES256").kid
    assert rotated.signing_key("RS256").kid != old.signing_key("RS256").kid


def test_keys_are_read_once_per_process(key_secret, monkeypatch):
    first = key_secret(keys.new_jwks())
    monkeypatch.setenv("SECRET_OIDC_SIGNING_KEYS", json.dumps(keys.new_jwks()))
    config.reset_caches()
    assert keys.current() is first


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {"nope": 1},
    ],
)
def test_malformed_key_sets_are_refused(key_secret, jwks):
    with pytest.raises(keys.InvalidKeySet):
        key_secret(jwks)


def test_a_set_without_rs256_is_refused_as_openid_connect_requires_it(key_secret):
    with pytest.raises(keys.InvalidKeySet):
        key_secret(keys.new_jwks(("ES256",)))


def test_a_public_only_key_cannot_sign(key_secret):
    public = KeySet.import_key_set(keys.new_jwks()).as_dict(private=False)
    with pytest.raises(keys.InvalidKeySet):
        key_secret(public)


def test_local_keys_are_created_once(tmp_path):
    from local.keys import ensure_local_keys, rotate

    path = ensure_local_keys(tmp_path)
    first = path.read_text()
    assert keys.from_jwks(json.loads(first)).default_alg == "ES256"
    assert oct(path.stat().st_mode)[-3:] == "600"
    ensure_local_keys(tmp_path)
    assert path.read_text() == first
    rotated = rotate(tmp_path)
    assert len(rotated["keys"]) == 3 and json.loads(path.read_text()) == rotated


def test_discovery_metadata_is_accepted_by_authlib(key_secret):
    from authlib.oidc.discovery import OpenIDProviderMetadata

    from shared.oidc import metadata

    key_secret(keys.new_jwks())
    metadata.discovery.cache_clear()
    document = metadata.discovery()
    OpenIDProviderMetadata(document).validate()
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    metadata.discovery.cache_clear()
