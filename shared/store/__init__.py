"""The store: pynamodb models over one DynamoDB table.

Importing this package registers every model (the discriminator needs them all to
turn a raw item back into the right class) and points them at the configured table.
"""
from . import writes
from .base import (Item, calls, configure, create_table, epoch, is_outage, now, query_values,
                   transaction_kwargs, transaction, all_models)
from .accounts import (Aidant, EmailClaim, LoginLink, LoginThrottle, Membership, RateCounter, Session,
                       Structure, TotpDevice)
from .journal import JournalEntry, JournalSeal
from .mandates import Autorisation, Mandate, Usager
from .outbox import OutboxItem
from .drafts import FranceConnectState, MandateDraft
from .oidc import AccessToken, AuthorizationCode, AuthorizationTransaction, OidcClient
from .cards import OtpCard
from .habilitation import HabilitationMessage, HabilitationRequest, Training
from .invitations import Invitation

configure()
