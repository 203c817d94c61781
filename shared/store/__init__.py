"""The store: pynamodb models over one DynamoDB table.

Importing this package registers every model (the discriminator needs them all to
turn a raw item back into the right class) and points them at the configured table.
Outside this package nothing names a key format, an index attribute or a store
error code: the models build their keys and offer one method per access pattern
(``shared/README.md``), and writes go through ``writes`` and ``transaction``.
"""

from . import writes
from .accounts import (
    Aidant,
    AidantPartition,
    EmailClaim,
    LoginLink,
    LoginThrottle,
    Membership,
    RateCounter,
    Session,
    Structure,
    TotpDevice,
)
from .base import (
    Item,
    Operation,
    all_models,
    configure,
    create_table,
    default_ttl,
    epoch,
    expired,
    expiring,
    is_outage,
    iso,
    now,
    partition,
    query_values,
    read,
    transaction,
    transaction_kwargs,
)
from .cards import OtpCard
from .drafts import FranceConnectState, MandateDraft
from .habilitation import HabilitationMessage, HabilitationRequest, Training
from .instrumentation import calls
from .invitations import Invitation
from .journal import JournalEntry, JournalSeal
from .mandates import Autorisation, Mandate, Usager
from .oidc import AccessToken, AuthorizationCode, AuthorizationTransaction, OidcClient
from .outbox import OutboxItem
from .sandbox import InboxMessage
from .stats import ExpiryCursor, StatsShard

configure()
