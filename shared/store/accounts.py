"""Structures, aidants, their TOTP devices, sessions and login links."""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)

from .base import Item, first, now, partition, query_values
from .habilitation import Training


class Structure(Item, discriminator="structure"):
    """pk ``STRUCTURE#<id>`` sk ``STRUCTURE``; gsi1 ``SIRET#<siret>``; gsi2
    ``STRUCTURES`` / ``<id>``: every structure, for what must list them all (the
    statistics' backfill), never on a request path. Structures created before that
    key existed get it from the backfill (``shared.stats.backfill``)."""

    LIST_PARTITION = "STRUCTURES"

    id = UnicodeAttribute()
    name = UnicodeAttribute()
    siret = UnicodeAttribute()
    address = UnicodeAttribute(null=True)
    structure_type = UnicodeAttribute(null=True)
    is_active = BooleanAttribute(default=True)

    @staticmethod
    def key(structure_id: str) -> tuple[str, str]:
        return f"STRUCTURE#{structure_id}", "STRUCTURE"

    @classmethod
    def new(cls, structure_id: str, **attributes) -> "Structure":
        """A structure (not saved), on the SIRET index and the list of structures."""
        return cls(
            *cls.key(structure_id),
            id=structure_id,
            gsi1pk=f"SIRET#{attributes['siret']}",
            gsi1sk="STRUCTURE",
            gsi2pk=cls.LIST_PARTITION,
            gsi2sk=structure_id,
            created_at=now(),
            **attributes,
        )

    @classmethod
    def many(cls, structure_ids) -> list["Structure"]:
        """The structures of an aidant: one BatchGet (none for no id)."""
        ids = sorted(structure_ids or ())
        return list(cls.batch_get([cls.key(sid) for sid in ids])) if ids else []

    @classmethod
    def listed_ids(cls) -> list[str]:
        """Every structure with its list key: one Query on gsi2, paged."""
        return [v["id"] for v in query_values(cls, cls.gsi2, cls.LIST_PARTITION, None, ["id"])]

    @classmethod
    def add_list_keys(cls, structure_id: str) -> bool:
        """The list key for a structure created before it existed; False if it has it."""
        from . import writes

        return writes.update(
            cls(*cls.key(structure_id)),
            [cls.gsi2pk.set(cls.LIST_PARTITION), cls.gsi2sk.set(structure_id)],
            cls.pk.exists() & cls.gsi2pk.does_not_exist(),
        )


class Aidant(Item, discriminator="aidant"):
    """pk ``AIDANT#<id>`` sk ``AIDANT``. The e-mail's uniqueness is held by
    :class:`EmailClaim`; structures by :class:`Membership` items."""

    id = UnicodeAttribute()
    email = UnicodeAttribute()
    first_name = UnicodeAttribute()
    last_name = UnicodeAttribute()
    profession = UnicodeAttribute(null=True)
    structure_ids = UnicodeSetAttribute(default=set)
    current_structure_id = UnicodeAttribute(null=True)
    referent_of = UnicodeSetAttribute(default=set)  # structures this aidant manages
    is_active = BooleanAttribute(default=True)
    is_staff = BooleanAttribute(default=False)
    # The terms of use (CGU) the aidant accepted, and when (shared.cgu).
    cgu_version = UnicodeAttribute(null=True)
    cgu_accepted_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(aidant_id: str) -> tuple[str, str]:
        return f"AIDANT#{aidant_id}", "AIDANT"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @classmethod
    def many(cls, aidant_ids) -> list["Aidant"]:
        ids = sorted(aidant_ids or ())
        return list(cls.batch_get([cls.key(aid) for aid in ids])) if ids else []

    @staticmethod
    def partition(aidant_id: str) -> "AidantPartition":
        """The aidant, their TOTP devices and their training: one Query."""
        found = partition(Aidant.key(aidant_id)[0])
        return AidantPartition(first(found.of(Aidant)), found.of(TotpDevice), first(found.of(Training)))


class EmailClaim(Item, discriminator="email_claim"):
    """pk ``EMAIL#<e-mail in its normal form>`` (``shared.emails.normalize``) sk
    ``EMAIL``: written with ``attribute_not_exists`` in the same transaction as the
    aidant, so two aidants can never share an e-mail."""

    aidant_id = UnicodeAttribute()

    @staticmethod
    def key(email: str) -> tuple[str, str]:
        return f"EMAIL#{email.strip().lower()}", "EMAIL"


class Membership(Item, discriminator="membership"):
    """pk ``STRUCTURE#<sid>`` sk ``AIDANT#<aid>``: lists a structure's aidants."""

    structure_id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()

    @staticmethod
    def key(structure_id: str, aidant_id: str) -> tuple[str, str]:
        return f"STRUCTURE#{structure_id}", f"AIDANT#{aidant_id}"

    @classmethod
    def new(cls, structure_id: str, aidant_id: str) -> "Membership":
        return cls(*cls.key(structure_id, aidant_id), structure_id=structure_id, aidant_id=aidant_id)

    @classmethod
    def aidants_of(cls, structure_id: str) -> list[str]:
        """The ids of a structure's aidants: one Query."""
        pk, _ = cls.key(structure_id, "")
        return [m.aidant_id for m in cls.query(pk, cls.sk.startswith("AIDANT#")) if isinstance(m, Membership)]


class TotpDevice(Item, discriminator="totp_device"):
    """pk ``AIDANT#<aid>`` sk ``TOTP#<device id>``.

    ``sealed_secret`` is the TOTP seed encrypted with the service key
    (``shared.crypto.seal``): a table dump, a log line or an API answer carrying the
    item never carries a usable seed. ``last_step`` is the last accepted time step;
    a code is accepted only for a strictly greater step (conditional write).
    """

    device_id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()
    device_kind = UnicodeAttribute()  # "card" | "app"
    serial = UnicodeAttribute(null=True)  # cards only
    sealed_secret = UnicodeAttribute()
    interval = NumberAttribute(default=30)  # seconds per step; cards use 60
    confirmed = BooleanAttribute(default=True)
    last_step = NumberAttribute(default=0)
    last_used_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(aidant_id: str, device_id: str) -> tuple[str, str]:
        return f"AIDANT#{aidant_id}", f"TOTP#{device_id}"


class Session(Item, discriminator="session"):
    """pk ``SESSION#<keyed hash of the cookie>`` sk ``SESSION``; gsi1
    ``AIDANT#<aid>#SESSIONS`` so that all of an aidant's sessions can be ended."""

    aidant_id = UnicodeAttribute()
    structure_id = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()  # absolute end, epoch seconds
    last_seen = NumberAttribute()  # for the inactivity timeout

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"SESSION#{token_hash}", "SESSION"

    @classmethod
    def new(cls, token_hash: str, *, aidant_id: str, structure_id: str, expires_at: int, now_s: int) -> "Session":
        """A session (not saved), on its aidant's index of sessions."""
        return cls(
            *cls.key(token_hash),
            aidant_id=aidant_id,
            structure_id=structure_id,
            expires_at=expires_at,
            last_seen=now_s,
            ttl=expires_at,
            gsi1pk=f"AIDANT#{aidant_id}#SESSIONS",
            gsi1sk=str(now_s),
        )

    @classmethod
    def of_aidant(cls, aidant_id: str) -> list["Session"]:
        """Every open session of an aidant: one Query on gsi1."""
        return list(cls.gsi1.query(f"AIDANT#{aidant_id}#SESSIONS"))


class LoginLink(Item, discriminator="login_link"):
    """pk ``LOGINLINK#<keyed hash of the token>`` sk ``LOGINLINK``; consumed once by a
    conditional update on ``used_at``."""

    aidant_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)
    next_path = UnicodeAttribute(null=True)

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"LOGINLINK#{token_hash}", "LOGINLINK"


class LoginThrottle(Item, discriminator="login_throttle"):
    """pk ``THROTTLE#<keyed hash of the e-mail>`` sk ``THROTTLE``.

    Counted per e-mail typed, whether or not an aidant has it, so that a lockout
    reveals nothing about which e-mails exist."""

    failures = NumberAttribute(default=0)
    locked_until = NumberAttribute(null=True)

    @staticmethod
    def key(email_hash: str) -> tuple[str, str]:
        return f"THROTTLE#{email_hash}", "THROTTLE"


class RateCounter(Item, discriminator="rate_counter"):
    """pk ``RATE#<name>`` sk ``RATE``: uses of something costly to others (an
    e-mail sent to an address nobody has verified) in a fixed window."""

    count = NumberAttribute(default=0)  # type: ignore[assignment]  # shadows Model.count, never called on a counter
    window_ends = NumberAttribute(default=0)

    @staticmethod
    def key(name: str) -> tuple[str, str]:
        return f"RATE#{name}", "RATE"


class AidantPartition(NamedTuple):
    """What the aidant's partition holds (:meth:`Aidant.partition`)."""

    aidant: Aidant | None
    devices: list[TotpDevice]
    training: Training | None
