"""Accreditation requests of structures, their messages, and aidants' training."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from .base import Item, first, partition


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
    hash of the random token of the link e-mailed at creation (docs/architecture.md §4).

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

    @classmethod
    def with_messages(cls, request_id: str) -> tuple["HabilitationRequest | None", list["HabilitationMessage"]]:
        """The request and its thread: one Query on its partition."""
        found = partition(cls.key(request_id)[0])
        return first(found.of(HabilitationRequest)), found.of(HabilitationMessage)

    @classmethod
    def in_queue(cls, status: str, limit: int) -> list["HabilitationRequest"]:
        """Staff's queue of one status, most recently changed first: one Query on gsi1."""
        return list(cls.gsi1.query(_queue(status), scan_index_forward=False, limit=limit))

    def enqueue(self, status: str, at: datetime) -> None:
        """Put a new request (not saved) in the queue of ``status``."""
        self.gsi1pk, self.gsi1sk = _queue(status), _queue_position(at, self.id)

    @staticmethod
    def queue_actions(status: str, at: datetime, request_id: str) -> list:
        """Update actions moving a request to the queue of ``status``."""
        return [
            HabilitationRequest.gsi1pk.set(_queue(status)),
            HabilitationRequest.gsi1sk.set(_queue_position(at, request_id)),
        ]


def _queue(status: str) -> str:
    return f"HABILITATIONS#{status}"


def _queue_position(at: datetime, request_id: str) -> str:
    return f"{at.isoformat(timespec='seconds')}#{request_id}"


class HabilitationMessage(Item, discriminator="habilitation_message"):
    """pk ``HABILITATION#<id>`` sk ``MESSAGE#<iso time>#<random>``: append-only."""

    request_id = UnicodeAttribute()
    author = UnicodeAttribute()  # "requester" | "staff"
    author_name = UnicodeAttribute()
    text = UnicodeAttribute()
    at = UnicodeAttribute()

    @staticmethod
    def key(request_id: str, at: datetime, suffix: str) -> tuple[str, str]:
        """Messages sort by time; ``suffix`` (random) tells apart two of one millisecond."""
        return HabilitationRequest.key(request_id)[0], f"MESSAGE#{at.isoformat(timespec='milliseconds')}#{suffix}"


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
