"""Short-lived items of mandate creation: the draft and the FranceConnect login state."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from .base import Item, unicode_list


class MandateDraft(Item, discriminator="mandate_draft"):
    """pk ``DRAFT#<id>`` sk ``DRAFT``.

    What the aidant chose (démarches, duration, remote consent) before the usager is
    identified, then the usager FranceConnect returned. Belongs to one aidant in one
    structure. ``signed_at`` is set by a conditional update inside the signature's
    ``TransactWrite``, so a draft gives at most one mandate. Ephemeral: ``ttl`` for
    DynamoDB and ``expires_at`` (epoch seconds) checked in code and in that condition.
    """

    id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()
    structure_id = UnicodeAttribute()
    demarches = unicode_list()
    duration = UnicodeAttribute()
    is_remote = BooleanAttribute(default=False)
    remote_consent: MapAttribute[str, str] = MapAttribute(null=True)  # {"method", "reference"}
    usager_id = UnicodeAttribute(null=True)  # set by the FranceConnect callback
    identified_at = UTCDateTimeAttribute(null=True)
    expires_at = NumberAttribute()
    signed_at = UTCDateTimeAttribute(null=True)
    mandate_id = UnicodeAttribute(null=True)

    @staticmethod
    def key(draft_id: str) -> tuple[str, str]:
        return f"DRAFT#{draft_id}", "DRAFT"


class FranceConnectState(Item, discriminator="fc_state"):
    """pk ``FCSTATE#<keyed hash of state>`` sk ``FCSTATE``.

    One FranceConnect login: the ``state`` sent to FranceConnect (stored hashed) ties
    the callback to a draft and its aidant; ``nonce_hash`` is compared with the ID
    token's ``nonce`` (OIDC Core §3.1.3.7). Consumed once (``used_at``) by a
    conditional update, so a replayed callback URL is refused."""

    draft_id = UnicodeAttribute()
    aidant_id = UnicodeAttribute()
    nonce_hash = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)

    @staticmethod
    def key(state_hash: str) -> tuple[str, str]:
        return f"FCSTATE#{state_hash}", "FCSTATE"
