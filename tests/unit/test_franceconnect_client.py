"""Our FranceConnect client's checks on the ID token (OIDC Core §3.1.3.7), with a
provider whose discovery and keys are set in the process cache (no network)."""

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ISSUER = "https://fc.example/api/v2"
CLIENT_ID = "aidants-connect-test"


def _key():
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
    key.ensure_kid()
    return key


@pytest.fixture(scope="module")
def keys():
    return _key(), _key()


@pytest.fixture
def fc(monkeypatch, keys):
    monkeypatch.setenv("FRANCECONNECT_URL", ISSUER)
    monkeypatch.setenv("FRANCECONNECT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SECRET_TOKEN_HMAC_KEY", "k" * 44)
    from shared import config, crypto, franceconnect

    config.reset_caches()
    crypto.reset_caches()
    provider = franceconnect.provider
    provider._metadata, provider._metadata_from = {"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"}, ISSUER
    provider._keys = KeySet.import_key_set({"keys": [keys[0].as_dict(private=False)]})
    provider._keys_fetched_at = time.monotonic()
    yield franceconnect
    provider.reset()
    config.reset_caches()
    crypto.reset_caches()


def _token(key, **overrides):
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "abc",
        "iat": now,
        "exp": now + 60,
        "nonce": "the-nonce",
        "acr": "eidas1",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _nonce_hash(fc, nonce="the-nonce"):
    from shared import crypto

    return crypto.keyed_hash(nonce, "fc_nonce")


def test_valid_token_is_accepted(fc, keys):
    claims = fc.verify_id_token(_token(keys[0]), _nonce_hash(fc))
    assert claims["sub"] == "abc"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example"},
        {"aud": "another-client"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"sub": None},
        {"acr": "eidas0"},
        {"acr": None},
        {"iat": None},
    ],
)
def test_token_with_a_wrong_claim_is_refused(fc, keys, overrides):
    with pytest.raises(fc.FranceConnectError) as refused:
        fc.verify_id_token(_token(keys[0], **overrides), _nonce_hash(fc))
    assert refused.value.code == fc.FAILED


def test_token_signed_by_another_key_is_refused(fc, keys, monkeypatch):
    # An unknown kid makes the client refresh the JWKS once: here it is still unknown.
    monkeypatch.setattr(fc.provider, "keys", lambda refresh=False: fc.provider._keys)
    with pytest.raises(fc.FranceConnectError):
        fc.verify_id_token(_token(keys[1]), _nonce_hash(fc))
    forged = _token(keys[1]).split(".")
    genuine = _token(keys[0]).split(".")
    with pytest.raises(fc.FranceConnectError):  # a known kid, but not its signature
        fc.verify_id_token(".".join([genuine[0], forged[1], forged[2]]), _nonce_hash(fc))


def test_unsigned_or_symmetric_tokens_are_refused(fc):
    import base64
    import json

    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "abc",
        "iat": now,
        "exp": now + 60,
        "nonce": "the-nonce",
        "acr": "eidas1",
    }
    unsigned = b64({"alg": "none"}) + "." + b64(claims) + "."
    for token in (unsigned, "not-a-jwt", "", None, 42):
        with pytest.raises(fc.FranceConnectError):
            fc.verify_id_token(token, _nonce_hash(fc))


def test_rotated_key_is_fetched_once(fc, keys, monkeypatch):
    fetched = []

    def get_json(url):
        fetched.append(url)
        return {"keys": [keys[0].as_dict(private=False), keys[1].as_dict(private=False)]}

    monkeypatch.setattr(fc.provider, "_get_json", get_json)
    fc.provider._keys_fetched_at = time.monotonic() - 3600
    claims = fc.verify_id_token(_token(keys[1]), _nonce_hash(fc))
    assert claims["sub"] == "abc" and fetched == [ISSUER + "/jwks"]
    fc.verify_id_token(_token(keys[1]), _nonce_hash(fc))
    assert len(fetched) == 1  # cached for the process, not fetched per request
