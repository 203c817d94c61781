"""Physical OTP cards, from the supplier's file to an aidant's pocket."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from .base import Item

STOCK_PARTITION = "CARDS#STOCK"
LOST_PARTITION = "CARDS#LOST"


class OtpCard(Item, discriminator="otp_card"):
    """pk ``CARD#<serial>`` sk ``CARD``.

    ``sealed_seed`` is the card's TOTP seed (base32) sealed with the service key and
    bound to the item's pk (``shared.crypto.seal``): a table dump never holds a
    usable seed. Linking the card copies the seed into a new, unconfirmed
    :class:`~shared.store.accounts.TotpDevice` of the aidant, sealed again for that
    device.

    ``status``: ``stock`` (imported, not linked), ``assigned`` (linked to
    ``aidant_id`` as device ``device_id``), ``lost`` (unlinked and reported lost: it
    can never be linked again). Stock and lost cards are on sparse gsi1 partitions
    (``CARDS#STOCK`` / ``CARDS#LOST``, sort key the serial) so staff list them with a
    Query; an assigned card leaves the index.

    ``structure_id``, when set at import, reserves the card for one structure (its
    welcome kit): only that structure's référents may link it. ``last_step`` keeps
    the last time step used by a previous holder so that a card relinked to someone
    else never accepts an old code again.
    """

    serial = UnicodeAttribute()
    sealed_seed = UnicodeAttribute()
    status = UnicodeAttribute(default="stock")
    structure_id = UnicodeAttribute(null=True)
    aidant_id = UnicodeAttribute(null=True)
    device_id = UnicodeAttribute(null=True)
    linked_in = UnicodeAttribute(null=True)  # the structure whose référent linked it
    last_step = NumberAttribute(default=0)
    assigned_at = UTCDateTimeAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(serial: str) -> tuple[str, str]:
        return f"CARD#{serial}", "CARD"

    @classmethod
    def new_in_stock(cls, serial: str, **attributes) -> "OtpCard":
        """A card in stock (not saved), on the stock partition of gsi1."""
        return cls(*cls.key(serial), serial=serial, status="stock", gsi1pk=STOCK_PARTITION, gsi1sk=serial, **attributes)

    @classmethod
    def shelf(cls, lost: bool = False, limit: int = 100) -> list["OtpCard"]:
        """Cards in stock (or lost), by serial: one Query on gsi1."""
        return list(cls.gsi1.query(LOST_PARTITION if lost else STOCK_PARTITION, limit=limit))

    @staticmethod
    def off_shelf_actions() -> list:
        """Update actions of a card leaving stock (linked): out of the index."""
        return [OtpCard.gsi1pk.remove(), OtpCard.gsi1sk.remove()]

    @staticmethod
    def on_shelf_actions(serial: str, lost: bool) -> list:
        """Update actions of a card back in stock, or among the lost ones."""
        return [OtpCard.gsi1pk.set(LOST_PARTITION if lost else STOCK_PARTITION), OtpCard.gsi1sk.set(serial)]
