"""Usagers, mandates and their autorisations (one per démarche)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Iterator

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.expressions.operand import Path

from .base import Item, default_ttl, first, iso, now, partition, query_values, unicode_list


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
    def refresh_identity(cls, usager_id: str, at: datetime, **identity) -> "Usager":
        """Create or refresh a usager's identity (``identity``: attribute → value, None
        removes it). An update, not a put: what the identity does not carry
        (``accompanied_at``, ``created_at``) stays."""
        kind = Path(["kind"])
        usager = cls(*cls.key(usager_id))
        ttl = default_ttl()  # the sandbox's expiry (an update skips the save path that sets it)
        usager.update(
            actions=[
                kind.set(kind | "usager"),
                cls.id.set(usager_id),
                *(getattr(cls, name).set(value) for name, value in identity.items()),
                cls.created_at.set(cls.created_at | at),
                cls.updated_at.set(at),
                *([cls.ttl.set(cls.ttl | ttl)] if ttl is not None else []),
            ]
        )
        return usager

    @classmethod
    def accompanied_operation(cls, usager_id: str, at: datetime) -> tuple:
        """Their first mandate signed (in its transaction): refused if already marked."""
        return (
            "update",
            cls(*cls.key(usager_id)),
            {
                "actions": [cls.accompanied_at.set(at)],
                "condition": cls.pk.exists() & cls.accompanied_at.does_not_exist(),
            },
        )

    @classmethod
    def mark_accompanied(cls, usager_id: str, since: datetime) -> bool:
        """``accompanied_at`` for a usager whose mandates predate it (the statistics'
        backfill); False if already set (or no such usager)."""
        from . import writes

        return writes.update(
            cls(*cls.key(usager_id)),
            [cls.accompanied_at.set(since)],
            cls.pk.exists() & cls.accompanied_at.does_not_exist(),
        )

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
    demarches = unicode_list()
    active_demarches = UnicodeSetAttribute(default=set)
    duration = UnicodeAttribute()  # short | six_months | long
    expires_at = UTCDateTimeAttribute()
    is_remote = BooleanAttribute(default=False)
    remote_consent: MapAttribute[str, str] = MapAttribute(null=True)  # {"method", "reference"}
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

    @classmethod
    def new(cls, mandate_id: str, **attributes) -> "Mandate":
        """A mandate (not saved) on its three indexes; ``attributes`` hold at least
        ``structure_id``, ``usager_id``, ``created_at`` and ``expires_at``."""
        mandate = cls(*cls.key(mandate_id), id=mandate_id, **attributes)
        position = f"{iso(mandate.created_at)}#{mandate_id}"
        mandate.gsi1pk, mandate.gsi1sk = _list_partition(mandate.structure_id, None), position
        mandate.gsi2pk, mandate.gsi2sk = _list_partition(mandate.structure_id, mandate.usager_id), position
        mandate.gsi3pk = cls.expiry_partition(mandate.expires_at.date())
        mandate.gsi3sk = f"{iso(mandate.expires_at)}#{mandate_id}"
        return mandate

    @classmethod
    def ending_on(cls, day, low: str, high: str, *, unreminded: bool = False) -> list["Mandate"]:
        """Mandates ending on the UTC ``day`` (a date), between the index positions
        ``low`` and ``high`` (``<expires iso>#<id>``): one Query on the sparse gsi3
        (revoked mandates leave it); ``unreminded``: those not yet reminded."""
        found = cls.gsi3.query(
            cls.expiry_partition(day),
            cls.gsi3sk.between(low, high),
            filter_condition=cls.reminded_at.does_not_exist() if unreminded else None,
        )
        return [m for m in found if isinstance(m, Mandate)]

    @classmethod
    def with_autorisations(cls, mandate_id: str) -> tuple["Mandate | None", list["Autorisation"]]:
        """A mandate and its autorisations: one Query on its partition."""
        found = partition(cls.key(mandate_id)[0])
        return first(found.of(Mandate)), found.of(Autorisation)

    @classmethod
    def of_structure(
        cls, structure_id: str, usager_id: str | None = None, *, limit: int, after: tuple[str, str] | None = None
    ):
        """A structure's mandates (or one usager's with it), newest first: one Query
        of at most ``limit`` items on gsi1 (gsi2), after the mandate ``after`` (its id
        and :attr:`list_position`). The result iterates over the mandates; its
        ``last_evaluated_key`` is None when nothing follows."""
        index, names = (cls.gsi2, ("gsi2pk", "gsi2sk")) if usager_id else (cls.gsi1, ("gsi1pk", "gsi1sk"))
        listed = _list_partition(structure_id, usager_id)
        start = None
        if after:
            pk, sk = cls.key(after[0])
            start = {"pk": {"S": pk}, "sk": {"S": sk}, names[0]: {"S": listed}, names[1]: {"S": after[1]}}
        return index.query(listed, scan_index_forward=False, limit=limit, last_evaluated_key=start)

    @property
    def list_position(self) -> str:
        """Where the mandate sits in its structure's lists (the same in both)."""
        return self.gsi1sk

    @staticmethod
    def revocation_actions(at: datetime, by: str) -> list:
        """A mandate revoked as a whole: no reminder of its end any more."""
        return [
            Mandate.revoked_at.set(at),
            Mandate.revoked_by.set(by),
            Mandate.gsi3pk.remove(),
            Mandate.gsi3sk.remove(),
        ]

    @staticmethod
    def expiry_partition(day: date) -> str:
        return f"EXPIRY#{day.isoformat()}"

    @classmethod
    def mark_ended(cls, mandate_id: str, at: datetime) -> bool:
        """``stats_ended_at`` for a mandate no longer in force that was never counted
        out (older than the statistics: the backfill); False if already set."""
        from . import writes

        return writes.update(
            cls(*cls.key(mandate_id)),
            [cls.stats_ended_at.set(at)],
            cls.pk.exists() & cls.stats_ended_at.does_not_exist(),
        )

    @classmethod
    def expiry_counted_operation(cls, mandate_id: str, at: datetime) -> tuple:
        """An expired mandate taken out of "in force" (the statistics' expiry run), in
        the transaction of the -1: refused unless it is still counted, really expired
        and neither revoked nor left without démarches (those were counted out then)."""
        return (
            "update",
            cls(*cls.key(mandate_id)),
            {
                "actions": [cls.stats_ended_at.set(at)],
                "condition": cls.pk.exists()
                & cls.stats_ended_at.does_not_exist()
                & cls.revoked_at.does_not_exist()
                & cls.active_demarches.exists()
                & (cls.expires_at <= at),
            },
        )

    @classmethod
    def of_structure_values(cls, structure_id: str, names: list[str]) -> list[dict]:
        """Every mandate of a structure, as the values of ``names`` (gsi1, paged)."""
        return query_values(cls, cls.gsi1, _list_partition(structure_id, None), None, names)

    @classmethod
    def expired_uncounted(cls, day: date, at: datetime) -> Iterator["Mandate"]:
        """Mandates ending on UTC ``day`` before ``at`` and still counted in force
        (the statistics' expiry run): one Query on gsi3, paged. Revoked mandates have
        left the index; those whose every démarche was renewed are already counted."""
        return cls.gsi3.query(
            cls.expiry_partition(day),
            cls.gsi3sk < at.isoformat(timespec="seconds"),
            filter_condition=cls.stats_ended_at.does_not_exist()
            & cls.revoked_at.does_not_exist()
            & cls.active_demarches.exists(),
        )


def _list_partition(structure_id: str, usager_id: str | None) -> str:
    if usager_id:
        return f"STRUCTURE#{structure_id}#USAGER#{usager_id}#MANDATES"
    return f"STRUCTURE#{structure_id}#MANDATES"


class Autorisation(Item, discriminator="autorisation"):
    """pk ``MANDATE#<mid>`` sk ``AUTORISATION#<démarche>``.

    While active (sparse: the keys are removed when revoked or replaced):
    gsi1 ``STRUCTURE#<sid>#ACTIVE`` / ``<expires iso>#<uid>#<démarche>``: what the
    identity provider offers (a Query with ``sk > now`` skips the expired ones);
    gsi2 ``STRUCTURE#<sid>#USAGER#<uid>#ACTIVE`` / ``<démarche>``: one usager's
    active autorisations (re-check at code and token time, renewal);
    gsi3 ``USAGER#<uid>#ACTIVE`` / ``<mandate>#<démarche>``: every active
    autorisation of a usager, whatever the structure, so that a refreshed identity
    reaches the copies below.

    ``usager_given_name`` … ``usager_birthdate`` copy what the identity provider's
    offer shows of the usager (written at signature, kept in sync by
    ``mandates.upsert_usager``): the offer is then one Query, not a Query and a
    BatchGet of every usager. Autorisations signed before the copy existed have
    neither these fields nor the gsi3 key; the offer reads their usagers."""

    mandate_id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    usager_id = UnicodeAttribute()
    demarche = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    revoked_at = UTCDateTimeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    replaced_by = UnicodeAttribute(null=True)  # the renewing mandate
    usager_given_name = UnicodeAttribute(null=True)
    usager_family_name = UnicodeAttribute(null=True)
    usager_preferred_username = UnicodeAttribute(null=True)
    usager_birthdate = UnicodeAttribute(null=True)

    # The usager's fields copied onto the autorisation: (autorisation, usager) names.
    USAGER_COPY = (
        ("usager_given_name", "given_name"),
        ("usager_family_name", "family_name"),
        ("usager_preferred_username", "preferred_username"),
        ("usager_birthdate", "birthdate"),
    )

    @staticmethod
    def key(mandate_id: str, demarche: str) -> tuple[str, str]:
        return f"MANDATE#{mandate_id}", f"AUTORISATION#{demarche}"

    @classmethod
    def new(cls, mandate_id: str, demarche: str, **attributes) -> "Autorisation":
        """An active autorisation (not saved), on both active indexes; ``attributes``
        hold at least ``structure_id``, ``usager_id`` and ``expires_at``."""
        auth = cls(*cls.key(mandate_id, demarche), mandate_id=mandate_id, demarche=demarche, **attributes)
        auth.gsi1pk = _active_of_structure(auth.structure_id)
        auth.gsi1sk = f"{iso(auth.expires_at)}#{auth.usager_id}#{demarche}"
        auth.gsi2pk, auth.gsi2sk = _active_of_usager(auth.structure_id, auth.usager_id), demarche
        auth.gsi3pk, auth.gsi3sk = _active_everywhere(auth.usager_id), f"{mandate_id}#{demarche}"
        return auth

    def copy_usager(self, usager: "Usager") -> "Autorisation":
        """What the offer shows of the usager, copied here (:attr:`USAGER_COPY`)."""
        for mine, theirs in self.USAGER_COPY:
            setattr(self, mine, getattr(usager, theirs, None) or None)
        return self

    def usager_copy_actions(self, usager: "Usager") -> list:
        """Update actions bringing the copy in line with ``usager``; empty when it is."""
        return [
            getattr(Autorisation, mine).set(getattr(usager, theirs))
            if getattr(usager, theirs)
            else getattr(Autorisation, mine).remove()
            for mine, theirs in self.USAGER_COPY
            if (getattr(self, mine) or None) != (getattr(usager, theirs) or None)
        ]

    @classmethod
    def active_of_usager_everywhere(cls, usager_id: str) -> list["Autorisation"]:
        """A usager's active autorisations in every structure (the copies of a
        refreshed identity): one Query on the sparse gsi3. Those signed before the
        copy existed are not on it, and have no copy to refresh."""
        return [a for a in cls.gsi3.query(_active_everywhere(usager_id)) if isinstance(a, Autorisation)]

    @staticmethod
    def still_active_everywhere():
        return Autorisation.gsi3pk.exists()

    @staticmethod
    def covers_condition(structure_id: str, usager_id: str, at: datetime):
        """It still lets ``structure_id`` act for ``usager_id`` at ``at``: the
        ``ConditionCheck`` of the transaction that acts on it (the code, the token),
        so that a revocation between the read and the write stops the write."""
        return (
            (Autorisation.gsi2pk == _active_of_usager(structure_id, usager_id))
            & Autorisation.revoked_at.does_not_exist()
            & (Autorisation.expires_at > at)
        )

    def covers(self, structure_id: str, usager_id: str, demarche: str, at: datetime) -> bool:
        """What :meth:`covers_condition` checks, on the item as read."""
        return (
            self.revoked_at is None
            and self.gsi2pk == _active_of_usager(structure_id, usager_id)
            and self.structure_id == structure_id
            and self.usager_id == usager_id
            and self.demarche == demarche
            and self.expires_at > at
        )

    @staticmethod
    def closing_actions(at: datetime, by: str, replaced_by: str | None = None) -> list:
        """Update actions that end an autorisation: it leaves the active indexes at once."""
        actions = [
            Autorisation.revoked_at.set(at),
            Autorisation.revoked_by.set(by),
            Autorisation.gsi1pk.remove(),
            Autorisation.gsi1sk.remove(),
            Autorisation.gsi2pk.remove(),
            Autorisation.gsi2sk.remove(),
            Autorisation.gsi3pk.remove(),
            Autorisation.gsi3sk.remove(),
        ]
        if replaced_by:
            actions.append(Autorisation.replaced_by.set(replaced_by))
        return actions

    @staticmethod
    def still_active():
        """The condition that it has not been closed meanwhile."""
        return Autorisation.gsi2pk.exists() & Autorisation.revoked_at.does_not_exist()

    @classmethod
    def active_of_structure(cls, structure_id: str, at: datetime) -> list["Autorisation"]:
        """Unexpired, unrevoked autorisations of a structure: one Query on the sparse gsi1."""
        return list(cls.gsi1.query(_active_of_structure(structure_id), cls.gsi1sk > iso(at)))

    @classmethod
    def active_values_of_structure(
        cls, structure_id: str, names: list[str], at: datetime, as_stored: frozenset[str] = frozenset()
    ) -> list[dict]:
        """The same Query, as the values of ``names`` only (``store.query_values``;
        those in ``as_stored`` as stored)."""
        return query_values(cls, cls.gsi1, _active_of_structure(structure_id), cls.gsi1sk > iso(at), names, as_stored)

    @classmethod
    def active_of_usager(cls, structure_id: str, usager_id: str, demarche: str | None = None) -> list["Autorisation"]:
        """A usager's unexpired, unrevoked autorisations in a structure (for one
        démarche, or all): one Query on the sparse gsi2."""
        at = now()
        condition = cls.gsi2sk == demarche if demarche else None
        return [a for a in cls.gsi2.query(_active_of_usager(structure_id, usager_id), condition) if a.expires_at > at]


def _active_everywhere(usager_id: str) -> str:
    return f"USAGER#{usager_id}#ACTIVE"


def _active_of_structure(structure_id: str) -> str:
    return f"STRUCTURE#{structure_id}#ACTIVE"


def _active_of_usager(structure_id: str, usager_id: str) -> str:
    return f"STRUCTURE#{structure_id}#USAGER#{usager_id}#ACTIVE"
