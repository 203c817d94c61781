"""Accreditation requests of structures, their messages, and aidants' training."""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, ListAttribute, MapAttribute, NumberAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)

from .base import Item


class Person(MapAttribute):
    first_name = UnicodeAttribute()
    last_name = UnicodeAttribute()
    email = UnicodeAttribute()
    profession = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    aidant_id = UnicodeAttribute(null=True)  # the account created on acceptance


class HabilitationRequest(Item, discriminator="habilitation_request"):
    """pk ``HABILITATION#<id>`` sk ``REQUEST``; its messages share the partition, so
    the request and its thread are one Query.

    The requester (the future référent) has no account: ``access_hash`` is the keyed
    hash of the random token of the link e-mailed at creation (DESIGN.md §2).

    gsi1 ``HABILITATIONS#<status>`` / ``<updated iso>#<id>``: staff's queue per
    status, moved in the same write that changes the status.
    """
    id = UnicodeAttribute()
    status = UnicodeAttribute()
    access_hash = UnicodeAttribute()
    sealed_token = UnicodeAttribute()  # the same token sealed, to put the link in later e-mails
    siret = UnicodeAttribute()
    name = UnicodeAttribute()
    address = UnicodeAttribute()
    structure_type = UnicodeAttribute()
    referent = Person()
    referent_is_aidant = BooleanAttribute(default=False)
    aidants = ListAttribute(of=Person, default=list)
    structure_id = UnicodeAttribute(null=True)  # set on acceptance
    submitted_at = UTCDateTimeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    last_message_at = UTCDateTimeAttribute(null=True)
    last_message_by = UnicodeAttribute(null=True)  # "requester" | "staff": who is waiting for an answer
    version = NumberAttribute(default=0)  # optimistic lock between requester and staff

    @staticmethod
    def key(request_id: str) -> tuple[str, str]:
        return f"HABILITATION#{request_id}", "REQUEST"


class HabilitationMessage(Item, discriminator="habilitation_message"):
    """pk ``HABILITATION#<id>`` sk ``MESSAGE#<iso time>#<random>``: append-only."""
    request_id = UnicodeAttribute()
    author = UnicodeAttribute()  # "requester" | "staff"
    author_name = UnicodeAttribute()
    text = UnicodeAttribute()
    at = UnicodeAttribute()


class Training(Item, discriminator="training"):
    """pk ``AIDANT#<aid>`` sk ``TRAINING``: on the aidant's partition, so the one Query
    that reads an aidant and their devices also tells whether they were trained."""
    aidant_id = UnicodeAttribute()
    trained_on = UnicodeAttribute(null=True)  # ISO date of the training
    pix_passed = BooleanAttribute(default=False)
    marked_by = UnicodeAttribute(null=True)

    @staticmethod
    def key(aidant_id: str) -> tuple[str, str]:
        return f"AIDANT#{aidant_id}", "TRAINING"

    @property
    def complete(self) -> bool:
        return bool(self.trained_on) and bool(self.pix_passed)
