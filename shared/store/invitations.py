"""Invitations of a person to join a structure."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from .base import Item

PENDING = "pending"
ACCEPTED = "accepted"
WITHDRAWN = "withdrawn"
ACCOUNT_CREATED = "account_created"  # a newcomer: an inactive account in the structure


class Invitation(Item, discriminator="invitation"):
    """pk ``INVITATION#<id>`` sk ``INVITATION``.

    A référent invites an address (stored in its normal form, ``shared.emails``) to
    their structure. While pending it sits on two sparse indexes: gsi1
    ``INVITED#<e-mail>`` (what the invitee sees after logging in) and gsi2
    ``STRUCTURE#<sid>#INVITATIONS`` (what the référent may withdraw), both sorted
    ``<created iso>#<id>``. Accepting or withdrawing removes both index keys in the
    same conditional update that ends it (condition: still pending, not expired), so
    it is used once. ``expires_at`` (epoch seconds) is checked in code and in that
    condition; ``ttl`` lets DynamoDB delete it later.
    """

    id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    structure_name = UnicodeAttribute()
    email = UnicodeAttribute()
    invited_by = UnicodeAttribute()
    invited_by_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=PENDING)
    expires_at = NumberAttribute()
    ended_at = UTCDateTimeAttribute(null=True)
    ended_by = UnicodeAttribute(null=True)
    aidant_id = UnicodeAttribute(null=True)  # who accepted it, or the newcomer's account

    @staticmethod
    def key(invitation_id: str) -> tuple[str, str]:
        return f"INVITATION#{invitation_id}", "INVITATION"

    @staticmethod
    def email_partition(email: str) -> str:
        return f"INVITED#{email}"

    @staticmethod
    def structure_partition(structure_id: str) -> str:
        return f"STRUCTURE#{structure_id}#INVITATIONS"

    def index_as_pending(self, created_iso: str) -> None:
        sort = f"{created_iso}#{self.id}"
        self.gsi1pk, self.gsi1sk = self.email_partition(self.email), sort
        self.gsi2pk, self.gsi2sk = self.structure_partition(self.structure_id), sort

    @classmethod
    def pending_for_email(cls, email: str, limit: int = 20) -> list["Invitation"]:
        """One Query on gsi1 (newest first); expired ones are the caller's to skip."""
        return [
            i
            for i in cls.gsi1.query(cls.email_partition(email), scan_index_forward=False, limit=limit)
            if isinstance(i, Invitation)
        ]

    @classmethod
    def pending_of_structure(cls, structure_id: str, limit: int = 100) -> list["Invitation"]:
        """One Query on gsi2 (newest first)."""
        return [
            i
            for i in cls.gsi2.query(cls.structure_partition(structure_id), scan_index_forward=False, limit=limit)
            if isinstance(i, Invitation)
        ]

    @classmethod
    def ending_actions(cls, status: str, at, by: str, aidant_id: str | None = None) -> list:
        """Ends a pending invitation: its status, and out of both indexes."""
        actions = [
            cls.status.set(status),
            cls.ended_at.set(at),
            cls.ended_by.set(by),
            cls.gsi1pk.remove(),
            cls.gsi1sk.remove(),
            cls.gsi2pk.remove(),
            cls.gsi2sk.remove(),
        ]
        if aidant_id:
            actions.append(cls.aidant_id.set(aidant_id))
        return actions

    @classmethod
    def still_pending(cls, now_s: int):
        return cls.pk.exists() & (cls.status == PENDING) & (cls.expires_at > now_s)
