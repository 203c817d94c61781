"""Usagers, mandates and their autorisations (one per démarche)."""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, ListAttribute, MapAttribute, UnicodeAttribute,
                                 UnicodeSetAttribute, UTCDateTimeAttribute)

from .base import Item


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

    @staticmethod
    def key(usager_id: str) -> tuple[str, str]:
        return f"USAGER#{usager_id}", "USAGER"

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

    @staticmethod
    def key(mandate_id: str) -> tuple[str, str]:
        return f"MANDATE#{mandate_id}", "MANDATE"


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
    USAGER_COPY = (("usager_given_name", "given_name"), ("usager_family_name", "family_name"),
                   ("usager_preferred_username", "preferred_username"), ("usager_birthdate", "birthdate"))

    @staticmethod
    def key(mandate_id: str, demarche: str) -> tuple[str, str]:
        return f"MANDATE#{mandate_id}", f"AUTORISATION#{demarche}"
