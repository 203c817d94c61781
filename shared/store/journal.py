"""The append-only journal."""
from __future__ import annotations

from pynamodb.attributes import MapAttribute, UnicodeAttribute

from .base import Item


class JournalEntry(Item, discriminator="journal"):
    """pk ``JOURNAL#<id>`` sk ``JOURNAL`` (ids sort by time); gsi1
    ``STRUCTURE#<sid>#JOURNAL`` / ``<iso time>#<id>``; gsi2 ``AIDANT#<aid>#JOURNAL`` /
    ``<iso time>#<id>``. Written only with ``attribute_not_exists(pk)`` and never
    updated or deleted by the code (and, in production, by IAM policy)."""
    id = UnicodeAttribute()
    action = UnicodeAttribute()
    at = UnicodeAttribute()  # ISO 8601 UTC
    aidant_id = UnicodeAttribute(null=True)
    structure_id = UnicodeAttribute(null=True)
    usager_id = UnicodeAttribute(null=True)
    mandate_id = UnicodeAttribute(null=True)
    demarche = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    details = MapAttribute(null=True)
