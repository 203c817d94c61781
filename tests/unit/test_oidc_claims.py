"""Claims: what each FranceConnect scope lets a client see of the usager, and the
pairwise ``sub``."""

import pytest

from shared.oidc import claims
from shared.store import Usager

ANGELA = dict(
    id="u1",
    fc_sub="fc1",
    given_name="Angela Claire Louise",
    family_name="DUBOIS",
    preferred_username="",
    birthdate="1962-08-24",
    gender="female",
    birthplace="75107",
    birthcountry="99100",
    email="angela.dubois@example.fr",
)


@pytest.fixture
def angela(moto_store):
    return Usager(*Usager.key("u1"), **ANGELA)


def test_openid_alone_gives_the_sub_only(angela):
    assert set(claims.user_info(angela, "fc", "openid")) == {"sub"}


def test_profile_scope_gives_the_profile_claims_only(angela):
    info = claims.user_info(angela, "fc", "openid profile")
    assert set(info) == {"sub", "given_name", "family_name", "birthdate", "gender"}


def test_birth_scope_gives_birthplace_and_birthcountry(angela):
    info = claims.user_info(angela, "fc", "openid birth")
    assert (info["birthplace"], info["birthcountry"]) == ("75107", "99100") and len(info) == 3


def test_single_claim_scopes_add_their_claim(angela):
    info = claims.user_info(angela, "fc", "openid email family_name")
    assert set(info) == {"sub", "email", "family_name"}


def test_empty_claims_are_left_out(angela):
    assert "preferred_username" not in claims.user_info(angela, "fc", "openid preferred_username profile")


def test_unknown_scopes_reveal_nothing_more(angela):
    assert set(claims.user_info(angela, "fc", "openid address phone casier")) == {"sub"}


def test_sub_is_stable_for_a_client_and_differs_between_clients(angela):
    a1 = claims.user_info(angela, "client-a", "openid")["sub"]
    assert claims.user_info(angela, "client-a", "openid profile")["sub"] == a1
    assert claims.user_info(angela, "client-b", "openid")["sub"] != a1
    assert "u1" not in a1 and "fc1" not in a1


def test_every_supported_scope_maps_to_known_claims():
    assert set(claims.SCOPES_SUPPORTED) >= {"openid", "profile", "birth", *claims.IDENTITY_CLAIMS}
    for scope in claims.SCOPES_SUPPORTED:
        assert claims.claims_for_scope(scope) <= set(claims.CLAIMS_SUPPORTED)
