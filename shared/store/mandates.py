"""Usagers, mandates and their autorisations (one per démarche)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterator

from pynamodb.attributes import (BooleanAttribute, ListAttribute, MapAttribute, UnicodeAttribute,
                                 UnicodeSetAttribute, UTCDateTimeAttribute)

from .base import Item, query_values


class Usager(Item, discriminator="usager"):
    """pk ``USAGER#<id>`` sk ``USAGER``. The id is a keyed hash of the FranceConnect
    ``sub``, so finding a usager by ``sub`` is a GetItem and two logins of the same
    person can never create two usagers."""
    id = UnicodeAttribute()
    fc_sub = UnicodeAttribute()
    given_name = UnicodeAttribute()
    family_name = UnicodeAttribute()
    preferred_username = UnicodeAttribute(null=True)
    birthdate = UnicodeAttribute(null=True)  # YYYY-MM-DD
    gender = UnicodeAttribute(null=True)
    birthplace = UnicodeAttribute(null=True)
    birthcountry = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    # When their first mandate was signed: set once, in that signature's transaction
    # (with the "usagers" counter), so they are counted once whatever follows.
    accompanied_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(usager_id: str) -> tuple[str, str]:
        return f"USAGER#{usager_id}", "USAGER"

    @classmethod
    def mark_accompanied(cls, usager_id: str, since: datetime) -> bool:
        """``accompanied_at`` for a usager whose mandates predate it (the statistics'
        backfill); False if already set (or no such usager)."""
        from . import writes
        return writes.update(cls(*cls.key(usager_id)), [cls.accompanied_at.set(since)],
                             cls.pk.exists() & cls.accompanied_at.does_not_exist())

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Mandate(Item, discriminator="mandate"):
    """pk ``MANDATE#<id>`` sk ``MANDATE``.

    gsi1 ``STRUCTURE#<sid>#MANDATES`` / ``<created iso>#<id>``: the structure's list;
    gsi2 ``STRUCTURE#<sid>#USAGER#<uid>#MANDATES`` / ``<created iso>#<id>``: one usager's;
    gsi3 ``EXPIRY#<yyyy-mm-dd>`` / ``<expires iso>#<id>`` (sparse, removed when revoked):
    mandates ending on a given day, for reminders.

    ``active_demarches`` shrinks as autorisations are revoked or replaced by a
    renewal, so the mandate's status is known without reading its autorisations.
    Never deleted and never given a TTL: mandates are kept for years after they end.
    """
    id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    usager_id = UnicodeAttribute()
    demarches = ListAttribute(of=UnicodeAttribute)
    active_demarches = UnicodeSetAttribute(default=set)
    duration = UnicodeAttribute()  # short | six_months | long
    expires_at = UTCDateTimeAttribute()
    is_remote = BooleanAttribute(default=False)
    remote_consent = MapAttribute(null=True)  # {"method", "reference"}
    signed_by = UnicodeAttribute()  # aidant id
    signed_by_name = UnicodeAttribute(null=True)
    usager_name = UnicodeAttribute(null=True)  # denormalised for lists and search
    text_snapshot = UnicodeAttribute(null=True)  # the text the usager agreed to
    revoked_at = UTCDateTimeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    reminded_at = UTCDateTimeAttribute(null=True)
    # When it left the "mandates in force" figure (revoked as a whole, all its
    # démarches renewed, or expired and counted by the scheduled run): set once, by a
    # conditional write in the transaction that subtracts it (shared.stats).
    stats_ended_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(mandate_id: str) -> tuple[str, str]:
        return f"MANDATE#{mandate_id}", "MANDATE"

    @staticmethod
    def expiry_partition(day: date) -> str:
        return f"EXPIRY#{day.isoformat()}"

    @classmethod
    def mark_ended(cls, mandate_id: str, at: datetime) -> bool:
        """``stats_ended_at`` for a mandate no longer in force that was never counted
        out (older than the statistics: the backfill); False if already set."""
        from . import writes
        return writes.update(cls(*cls.key(mandate_id)), [cls.stats_ended_at.set(at)],
                             cls.pk.exists() & cls.stats_ended_at.does_not_exist())

    @classmethod
    def of_structure_values(cls, structure_id: str, names: list[str]) -> list[dict]:
        """Every mandate of a structure, as the values of ``names`` (gsi1, paged)."""
        return query_values(cls, cls.gsi1, f"STRUCTURE#{structure_id}#MANDATES", None, names)

    @classmethod
    def expired_uncounted(cls, day: date, at: datetime) -> Iterator["Mandate"]:
        """Mandates ending on UTC ``day`` before ``at`` and still counted in force
        (the statistics' expiry run): one Query on gsi3, paged. Revoked mandates have
        left the index; those whose every démarche was renewed are already counted."""
        return cls.gsi3.query(cls.expiry_partition(day), cls.gsi3sk < at.isoformat(timespec="seconds"),
                              filter_condition=cls.stats_ended_at.does_not_exist()
                              & cls.revoked_at.does_not_exist() & cls.active_demarches.exists())


class Autorisation(Item, discriminator="autorisation"):
    """pk ``MANDATE#<mid>`` sk ``AUTORISATION#<démarche>``.

    While active (sparse: the keys are removed when revoked or replaced):
    gsi1 ``STRUCTURE#<sid>#ACTIVE`` / ``<expires iso>#<uid>#<démarche>``: what the
    identity provider offers (a Query with ``sk > now`` skips the expired ones);
    gsi2 ``STRUCTURE#<sid>#USAGER#<uid>#ACTIVE`` / ``<démarche>``: one usager's
    active autorisations (re-check at code and token time, renewal)."""
    mandate_id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    usager_id = UnicodeAttribute()
    demarche = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    replaced_by = UnicodeAttribute(null=True)  # the renewing mandate

    @staticmethod
    def key(mandate_id: str, demarche: str) -> tuple[str, str]:
        return f"MANDATE#{mandate_id}", f"AUTORISATION#{demarche}"
