"""OTP cards and apps under moto: import, link, validate, unlink, activation rules."""

import base64
import time

import pyotp
import pytest

HEX_SEED = "3132333435363738393031323334353637383930"  # RFC 6238's test key, 20 bytes


@pytest.fixture
def world(moto_store):
    from shared import accounts
    from shared.sessions import Caller

    for sid in ("s-a", "s-b"):
        accounts.new_structure(f"Structure {sid}", "80204022000019", "1 rue de la Paix", structure_id=sid).save()
    referent, _ = accounts.create_aidant("ref@test.fr", "Rita", "Ref", ["s-a"], referent_of=["s-a"])
    aidant, _ = accounts.create_aidant("aid@test.fr", "Anne", "Aid", ["s-a"], is_active=False, device_kind=None)
    other, _ = accounts.create_aidant("other@test.fr", "Otto", "Other", ["s-b"], device_kind=None)
    staff, _ = accounts.create_aidant("staff@test.fr", "Sam", "Staff", ["s-a"], device_kind=None)
    staff.update(actions=[type(staff).is_staff.set(True)])
    return {
        "referent": Caller(referent, "s-a", None),
        "staff": Caller(staff, "s-a", None),
        "aidant": aidant,
        "other": other,
    }


def import_one(serial="A4400000000001", seed=HEX_SEED, structure_id=None):
    from shared import cards

    return cards.import_cards(
        [{"serial": serial, "seed": seed}], encoding="hex", structure_id=structure_id, actor_id="staff"
    )


def card_code(serial, offset_steps=0):
    from shared import cards, crypto

    card = cards.get_card(serial)
    totp = pyotp.TOTP(crypto.unseal(card.sealed_seed, card.pk), interval=60)
    return totp.at(time.time() + offset_steps * 60)


def target(world, aidant_key="aidant", structure="s-a"):
    from shared import referent

    return referent.managed_aidant(world["referent"], structure, world[aidant_key].id)


def train(world, aidant_id):
    from shared import habilitation

    habilitation.mark_trained(world["staff"], aidant_id, "2024-03-01", True)


def test_hex_seed_becomes_the_base32_secret_and_is_stored_sealed(world):
    from shared import cards

    result = import_one()
    assert result.imported == ["A4400000000001"]
    card = cards.get_card("A4400000000001")
    assert card.status == "stock" and HEX_SEED not in card.sealed_seed
    assert base64.b32encode(bytes.fromhex(HEX_SEED)).decode() not in card.sealed_seed
    assert [c.serial for c in cards.in_stock()] == ["A4400000000001"]


def test_reimporting_a_serial_never_overwrites_the_card(world):
    import_one()
    again = import_one(seed="ab" * 20)
    assert again.imported == [] and again.duplicates == ["A4400000000001"]


def test_short_or_malformed_seeds_are_reported_not_imported(world):
    from shared import cards

    result = cards.import_cards(
        [
            {"serial": "A1", "seed": HEX_SEED},
            {"serial": "A4400000000009", "seed": "abcd"},
            {"serial": "A4400000000010", "seed": "zz" * 20},
            "nope",
        ],
        encoding="hex",
        structure_id=None,
        actor_id="staff",
    )
    assert result.imported == [] and len(result.invalid) == 4


def test_csv_with_header_and_semicolons(world):
    from shared import cards

    rows = cards.parse_csv("Serial Number;Seed\nA4400000000001;" + HEX_SEED + "\n\n")
    assert rows == [{"serial": "A4400000000001", "seed": HEX_SEED}]


def test_a_linked_card_cannot_log_in_until_validated(world):
    from shared import otp, referent

    import_one()
    referent.link_card(target(world), "a440 0000 000001")
    _, devices = otp.devices_of(world["aidant"].id)
    assert len(devices) == 1 and devices[0].confirmed is False and devices[0].interval == 60
    assert otp.consume(devices, card_code("A4400000000001")) is None


def test_validation_confirms_the_card_and_activates_a_trained_aidant(world):
    from shared import cards, referent

    import_one()
    train(world, world["aidant"].id)
    referent.link_card(target(world), "A4400000000001")
    result = referent.validate_card(target(world), card_code("A4400000000001"))
    assert result["device"]["confirmed"] is True and result["is_active"] is True
    assert cards.get_card("A4400000000001").confirmed_at is not None
    file = referent.read_file(world["aidant"].id)
    assert file.aidant.is_active and file.active_in("s-a")


def test_validation_without_training_leaves_the_account_inactive(world):
    from shared import referent

    import_one()
    referent.link_card(target(world), "A4400000000001")
    result = referent.validate_card(target(world), card_code("A4400000000001"))
    assert result["is_active"] is False and result["activation_blockers"] == ["training"]
    train(world, world["aidant"].id)  # the training mark completes it
    assert referent.read_file(world["aidant"].id).aidant.is_active


def test_wrong_validation_codes_are_throttled(world):
    from shared import errors, referent

    import_one()
    referent.link_card(target(world), "A4400000000001")
    for _ in range(5):
        with pytest.raises(errors.Forbidden):
            referent.validate_card(target(world), "000000" if card_code("A4400000000001") != "000000" else "111111")
    with pytest.raises(errors.TooManyRequests):
        referent.validate_card(target(world), card_code("A4400000000001"))


def test_a_card_taken_or_reserved_elsewhere_cannot_be_linked(world):
    from shared import errors, referent

    import_one()
    import_one("B4400000000001", structure_id="s-b")
    referent.link_card(target(world), "A4400000000001")
    world2 = dict(world, aidant=world["referent"].aidant)
    with pytest.raises(errors.Conflict):
        referent.link_card(target(world2), "A4400000000001")
    with pytest.raises(errors.NotFound):
        referent.link_card(target(world2), "B4400000000001")


def test_unlinked_card_codes_are_refused_and_a_relinked_card_does_not_replay(world):
    from shared import cards, otp, referent

    import_one()
    train(world, world["aidant"].id)
    referent.link_card(target(world), "A4400000000001")
    referent.validate_card(target(world), card_code("A4400000000001"))
    referent.unlink_card(target(world), lost=False)
    assert otp.devices_of(world["aidant"].id)[1] == []
    card = cards.get_card("A4400000000001")
    assert card.status == "stock" and card.aidant_id is None and card.last_step > 0
    # Relinked to the référent: the code already used for validation stays used.
    world2 = dict(world, aidant=world["referent"].aidant)
    referent.link_card(target(world2), "A4400000000001")
    device = referent.read_file(world["referent"].aidant.id).device("card")
    assert device.last_step == card.last_step


def test_a_lost_card_leaves_the_stock_for_good(world):
    from shared import cards, errors, referent

    import_one()
    referent.link_card(target(world), "A4400000000001")
    referent.unlink_card(target(world), lost=True)
    assert cards.get_card("A4400000000001").status == "lost" and cards.in_stock() == []
    with pytest.raises(errors.Conflict):
        referent.link_card(target(world), "A4400000000001")


def test_app_enrolment_shows_the_secret_once_and_confirms_with_a_code(world):
    from shared import referent

    started = referent.start_app(target(world))
    assert started["otpauth_uri"].startswith("otpauth://totp/Aidants%20Connect:aid%40test.fr?secret=")
    assert started["qr_svg"].startswith("<svg") and started["qr_svg_data_uri"].startswith("data:image/svg+xml")
    again = referent.start_app(target(world))  # a new secret replaces the unconfirmed one
    assert again["secret"] != started["secret"]
    assert len(referent.read_file(world["aidant"].id).devices) == 1
    confirmed = referent.confirm_app(target(world), pyotp.TOTP(again["secret"]).now())
    assert confirmed["device"]["confirmed"] is True
    view = referent.structure_detail(world["referent"], "s-a")
    row = next(a for a in view["aidants"] if a["id"] == world["aidant"].id)
    assert row["otp"] == "application" and "secret" not in str(view)


def test_activation_needs_training_and_a_confirmed_device(world):
    from shared import errors, referent

    with pytest.raises(errors.Conflict) as refused:
        referent.activate(target(world))
    assert "formé" in refused.value.description and "carte" in refused.value.description


def test_deactivation_in_one_structure_keeps_the_other(world):
    from shared import accounts, referent
    from shared.store import Aidant, Membership

    aidant = world["other"]  # of s-b; joins s-a too
    Membership("STRUCTURE#s-a", f"AIDANT#{aidant.id}", structure_id="s-a", aidant_id=aidant.id).save()
    aidant.update(actions=[Aidant.structure_ids.add({"s-a"})])
    result = referent.deactivate(target(world, "other"))
    assert result["is_active"] is False
    again = accounts.find_aidant_by_email("other@test.fr")
    assert again.is_active and again.structure_ids == {"s-b"}


def test_a_referent_cannot_reach_another_structure_or_its_aidants(world):
    from shared import errors, referent

    with pytest.raises(errors.NotFound):
        referent.structure_detail(world["referent"], "s-b")
    with pytest.raises(errors.NotFound):
        referent.managed_aidant(world["referent"], "s-a", world["other"].id)


def test_a_plain_aidant_is_not_a_referent(world):
    from shared import errors, referent
    from shared.sessions import Caller

    with pytest.raises(errors.Forbidden):
        referent.my_structures(Caller(world["other"], "s-b", None))
