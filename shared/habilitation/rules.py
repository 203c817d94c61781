"""The accreditation request's statuses and who moves them, structure types, limits,
and the names of what it journals and e-mails."""

from __future__ import annotations

import re

BROUILLON, ENVOYEE, EN_ATTENTE = "brouillon", "envoyee", "en_attente"
ACCEPTEE, REFUSEE, MODIFICATIONS = "acceptee", "refusee", "modifications_demandees"
STATUS_LABELS = {
    BROUILLON: "Brouillon",
    ENVOYEE: "Envoyée",
    EN_ATTENTE: "En attente",
    ACCEPTEE: "Acceptée",
    REFUSEE: "Refusée",
    MODIFICATIONS: "Modifications demandées",
}
EDITABLE = {BROUILLON, MODIFICATIONS}
# staff decision → (statuses it may follow, new status, message required)
DECISIONS = {
    "hold": ({ENVOYEE}, EN_ATTENTE, False),
    "request_changes": ({ENVOYEE, EN_ATTENTE}, MODIFICATIONS, True),
    "accept": ({ENVOYEE, EN_ATTENTE}, ACCEPTEE, False),
    "refuse": ({ENVOYEE, EN_ATTENTE, MODIFICATIONS}, REFUSEE, False),
}
STRUCTURE_TYPES = {
    "france_services": "France Services",
    "ccas": "CCAS / CIAS",
    "mairie": "Mairie",
    "departement": "Conseil départemental",
    "mediatheque": "Médiathèque / bibliothèque",
    "association": "Association",
    "tiers_lieu": "Tiers-lieu / espace public numérique",
    "service_public": "Autre service public",
    "autre": "Autre",
}
MAX_AIDANTS = 50
MAX_MESSAGE = 4000
SIRET_RE = re.compile(r"\d{14}")

REQUEST_CREATED = "habilitation_request_created"
REQUEST_UPDATED = "habilitation_request_updated"
REQUEST_STATUS = "habilitation_status_changed"
REQUEST_MESSAGE = "habilitation_message"
ACCOUNTS_CREATED = "habilitation_accounts_created"
AIDANT_TRAINED = "aidant_training_marked"
EXISTING_ACCOUNT_NOT_ATTACHED = "habilitation_existing_account_not_attached"

# Outbox templates (shared/templates/mail/).
MAIL_CREATED = "habilitation_created"
MAIL_STATUS = "habilitation_status"
MAIL_MESSAGE = "habilitation_message"
