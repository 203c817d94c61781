"""The one catalogue of the error codes the service answers with.

Every ``{"error": code}`` an answer may carry, and every ``error=`` a redirect puts
in an address, is one entry here: the code, the HTTP status(es) it comes with (302:
it travels in a redirect's query, to the OAuth client or to a page of the
front-end) and a French default message, which the front-end shows when an answer
has no ``error_description`` and ``shared.errors``' classes use as their default
description.

* the code names them by constant (``codes.INVALID_OTP``), never as a string;
* ``openapi.yaml`` lists them, in this order, as the ``Error`` schema's ``enum``;
* the front-end build writes them to ``js/error-codes.js`` (one constant each and
  the messages), which the page modules compare ``err.code`` with.

``tests/unit/test_error_codes.py`` keeps them in step: no code used that is not
here, no entry never used, the same list in ``openapi.yaml``, every error raised
with a status its code lists.

Entries are grouped by area; within an area, sorted by the status of their JSON
answer, then by code (the codes only a redirect carries last). A code has one
entry: the protocol codes the API also answers with, for the same meaning
(``invalid_request``, ``server_error``, ``temporarily_unavailable``; RFC 6749
§4.1.2.1, §5.2) are under "any route", ``login_required`` under OAuth and OpenID
Connect.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: str
    statuses: tuple[int, ...]
    message: str  # French, for people
    area: str


CATALOGUE: dict[str, ErrorCode] = {}


class _Area:
    """Adds the entries of one area, in order; each call returns the code."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, code: str, statuses: int | tuple[int, ...], message: str) -> str:
        if code in CATALOGUE:
            raise ValueError(f"error code listed twice: {code}")
        statuses = statuses if isinstance(statuses, tuple) else (statuses,)
        CATALOGUE[code] = ErrorCode(code, statuses, message, self.name)
        return code


def message(code: str) -> str:
    return CATALOGUE[code].message


# -- any route: the request itself, the session cookie, the store (shared.http, shared.errors)
_any = _Area("any route")
INVALID_FIELD = _any("invalid_field", 400, "Un champ du formulaire n'est pas valide.")
INVALID_REQUEST = _any("invalid_request", (302, 400), "Requête invalide.")  # RFC 6749 §4.1.2.1, §5.2
DUPLICATE_COOKIE = _any(
    "duplicate_cookie",
    401,
    (
        "Votre navigateur a envoyé deux cookies de session. Fermez toutes les fenêtres du navigateur, puis "
        "reconnectez-vous."
    ),
)
UNAUTHORIZED = _any("unauthorized", 401, "Vous devez vous connecter.")
CROSS_ORIGIN = _any("cross_origin", 403, "Requête d'une autre origine refusée.")
FORBIDDEN = _any("forbidden", 403, "Vous n'avez pas le droit de faire cela.")
NOT_FOUND = _any("not_found", 404, "Introuvable.")
METHOD_NOT_ALLOWED = _any("method_not_allowed", 405, "Méthode non autorisée.")
CONFLICT = _any("conflict", 409, "Cette action a déjà été effectuée.")
EXPIRED = _any("expired", (302, 410), "Ce lien a expiré ou a déjà été utilisé.")
PAYLOAD_TOO_LARGE = _any("payload_too_large", 413, "La requête est trop volumineuse.")
UNSUPPORTED_MEDIA_TYPE = _any(
    "unsupported_media_type", 415, "Le corps de la requête doit être du JSON (Content-Type: application/json)."
)
TOO_MANY_REQUESTS = _any("too_many_requests", 429, "Trop de tentatives. Réessayez plus tard.")
SERVER_ERROR = _any("server_error", 500, "Erreur interne du service.")  # RFC 6749 §4.1.2.1
MISCONFIGURED = _any("misconfigured", 503, "Ce service est mal configuré : il refuse de fonctionner.")
TEMPORARILY_UNAVAILABLE = _any(
    "temporarily_unavailable",
    (302, 503),  # RFC 6749 §4.1.2.1
    "Le service est momentanément indisponible. Réessayez dans quelques instants.",
)

# -- the local gateway (local/gateway.py; OpenFaaS' own gateway answers in plain text)
_gateway = _Area("gateway")
BAD_GATEWAY = _gateway("bad_gateway", 502, "Le service ne répond pas. Réessayez dans quelques instants.")
GATEWAY_TIMEOUT = _gateway("gateway_timeout", 504, "Le service a mis trop de temps à répondre. Réessayez.")

# -- login, sessions, the structure acted for, the terms of use (login, sessions, otp, cgu)
_login = _Area("login and sessions")
INVALID_EMAIL = _login(
    "invalid_email", 400, "L'adresse e-mail doit être une seule adresse valide, par exemple nom@domaine.fr."
)
INVALID_CREDENTIALS = _login("invalid_credentials", 401, "L'adresse e-mail ou le code à 6 chiffres est incorrect.")
SESSION_EXPIRED = _login("session_expired", (302, 401), "Votre session a expiré. Merci de vous reconnecter.")
SESSION_REVOKED = _login("session_revoked", 401, "Votre accès a été désactivé.")
CGU_NOT_ACCEPTED = _login(
    "cgu_not_accepted", 403, "Lisez et acceptez les conditions générales d'utilisation d'Aidants Connect."
)
INACTIVE = _login("inactive", (302, 403), "Votre accès à Aidants Connect n'est pas actif.")
INVALID_OTP = _login("invalid_otp", 403, "Le code à 6 chiffres est incorrect ou a déjà été utilisé.")
CGU_VERSION_OUTDATED = _login(
    "cgu_version_outdated",
    409,
    "Les conditions générales d'utilisation ont changé : relisez-les avant de les accepter.",
)
STRUCTURE_SWITCHED = _login("structure_switched", 409, "Vous agissez maintenant pour une autre structure.")

# -- lists and searches (listings, the staff's queue)
_lists = _Area("lists")
INVALID_CURSOR = _lists("invalid_cursor", 400, "Le curseur de pagination n'est pas valide.")
INVALID_LIMIT = _lists("invalid_limit", 400, "Le paramètre « limit » n'est pas valide.")
INVALID_QUERY = _lists("invalid_query", 400, "La recherche est trop longue.")
INVALID_STATUS = _lists("invalid_status", 400, "Statut inconnu.")

# -- mandates: drafts, FranceConnect's identification, signature, revocation, documents
_mandates = _Area("mandates")
INVALID_DEMARCHE = _mandates("invalid_demarche", 400, "Démarche inconnue.")
INVALID_DEMARCHES = _mandates("invalid_demarches", 400, "Sélectionnez au moins une démarche.")
INVALID_DURATION = _mandates("invalid_duration", 400, "Durée de mandat inconnue.")
INVALID_IDENTITY = _mandates("invalid_identity", 400, "FranceConnect n'a pas transmis l'identité de l'usager.")
INVALID_REMOTE_CONSENT = _mandates("invalid_remote_consent", 400, "Le consentement à distance n'est pas valide.")
REMOTE_CONSENT_REQUIRED = _mandates(
    "remote_consent_required", 400, ("Pour un mandat à distance, indiquez comment l'usager a donné son consentement.")
)
DRAFT_NOT_FOUND = _mandates("draft_not_found", 404, "Ce projet de mandat est introuvable.")
NOT_REVOKED = _mandates("not_revoked", 404, "Ce mandat n'a fait l'objet d'aucune révocation.")
ALREADY_REVOKED = _mandates("already_revoked", 409, "Ce mandat est déjà révoqué.")
AUTORISATION_NOT_ACTIVE = _mandates(
    "autorisation_not_active", 409, "Cette démarche n'est pas (ou plus) couverte par ce mandat."
)
DRAFT_ALREADY_SIGNED = _mandates("draft_already_signed", 409, "Ce mandat a déjà été signé.")
DRAFT_INVALID = _mandates("draft_invalid", 409, "L'usager ou la structure de ce projet de mandat n'existe plus.")
MANDATE_CHANGED = _mandates("mandate_changed", 409, "Ce mandat a changé pendant la révocation. Rechargez la page.")
MANDATE_EXPIRED = _mandates("mandate_expired", 409, "Ce mandat a expiré : il n'y a plus rien à révoquer.")
USAGER_NOT_IDENTIFIED = _mandates(
    "usager_not_identified", 409, "L'usager ne s'est pas encore identifié avec FranceConnect."
)
# Also an accreditation request's draft, not sent in time (habilitation).
DRAFT_EXPIRED = _mandates("draft_expired", (302, 410), "Ce brouillon a expiré.")
FRANCECONNECT_UNAVAILABLE = _mandates(
    "franceconnect_unavailable",
    (302, 503),
    "FranceConnect est momentanément indisponible. Réessayez dans quelques instants.",
)
# FranceConnect's callback sends the browser back to the draft page with ``error=``
# (shared.drafts.callback), as these or the codes above.
FRANCECONNECT_CANCELLED = _mandates("franceconnect_cancelled", 302, "La connexion à FranceConnect a été annulée.")
FRANCECONNECT_ERROR = _mandates("franceconnect_error", 302, "FranceConnect n'a pas pu identifier l'usager.")
FRANCECONNECT_EXPIRED = _mandates(
    "franceconnect_expired", 302, ("La connexion à FranceConnect a expiré ou a déjà été utilisée.")
)

# -- the identity provider's choice page (/api/fi, shared.oidc.transactions)
_fi = _Area("identity provider")
INVALID_MANDATE = _fi("invalid_mandate", 400, "Le mandat choisi n'est pas valide.")
NO_ACTIVE_MANDATE = _fi(
    "no_active_mandate", 403, "Aucun mandat actif de votre structure ne couvre cette démarche pour cet usager."
)
TRANSACTION_OTHER_BROWSER = _fi(
    "transaction_other_browser", 403, "Cette demande de connexion a été ouverte dans un autre navigateur."
)
TRANSACTION_NOT_FOUND = _fi("transaction_not_found", 404, "Cette demande de connexion est introuvable.")
TRANSACTION_COMPLETED = _fi("transaction_completed", 409, "Cette demande de connexion a déjà été utilisée.")
TRANSACTION_EXPIRED = _fi(
    "transaction_expired", 410, ("Cette demande de connexion a expiré. Recommencez depuis le site de la démarche.")
)

# -- structures and aidants: accounts, the référent's space, cards and apps, invitations
_structures = _Area("structures")
INVALID_ENCODING = _structures("invalid_encoding", 400, "Encodage de graine inconnu (hex ou base32).")
INVALID_FILE = _structures("invalid_file", 400, "Le fichier de cartes n'est pas valide.")
INVALID_SERIAL = _structures("invalid_serial", 400, "Ce numéro de série n'est pas valide.")
TOO_MANY_CARDS = _structures("too_many_cards", 400, "Trop de cartes à importer en une fois.")
NOT_REFERENT = _structures("not_referent", 403, "Cet espace est réservé aux référents des structures.")
SHARED_AIDANT = _structures(
    "shared_aidant",
    403,
    (
        "Cet aidant travaille aussi pour une autre structure : seule l'équipe Aidants Connect peut modifier "
        "sa carte ou son application."
    ),
)
INVITATION_NOT_FOUND = _structures("invitation_not_found", 404, "Cette invitation est introuvable.")
NO_APP = _structures("no_app", 404, "Cet aidant n'a pas d'application.")
NO_CARD = _structures("no_card", 404, "Cet aidant n'a pas de carte.")
UNKNOWN_CARD = _structures("unknown_card", 404, "Aucune carte disponible ne porte ce numéro de série.")
ACCOUNT_EXISTS = _structures("account_exists", 409, "Un compte existe déjà avec cette adresse e-mail.")
ALREADY_CONFIRMED = _structures("already_confirmed", 409, "Cette carte ou cette application est déjà validée.")
ALREADY_HAS_APP = _structures("already_has_app", 409, "Cet aidant a déjà une application validée.")
ALREADY_HAS_CARD = _structures("already_has_card", 409, "Cet aidant a déjà une carte.")
ALREADY_INVITED = _structures(
    "already_invited", 409, "Cette personne a déjà une invitation en attente pour votre structure."
)
ALREADY_MEMBER = _structures("already_member", 409, "Cette personne figure déjà parmi les aidants de votre structure.")
CARD_LOST = _structures("card_lost", 409, "Cette carte a été déclarée perdue : elle ne peut plus être liée.")
CARD_TAKEN = _structures("card_taken", 409, "Cette carte est déjà liée à un aidant.")
INVITATION_ENDED = _structures("invitation_ended", 409, "Cette invitation a déjà été acceptée, retirée ou a expiré.")
NOT_READY = _structures("not_ready", 409, "Impossible d'activer cet accès pour le moment.")
SELF_DEACTIVATION = _structures("self_deactivation", 409, "Vous ne pouvez pas désactiver votre propre accès.")
STRUCTURE_EXISTS = _structures("structure_exists", 409, "Cette structure existe déjà.")
INVITATION_EXPIRED = _structures("invitation_expired", 410, "Cette invitation a expiré.")
INVITATION_WITHDRAWN = _structures("invitation_withdrawn", 410, "La structure a retiré cette invitation.")
STRUCTURE_INACTIVE = _structures("structure_inactive", 410, "Cette structure n'utilise plus Aidants Connect.")

# -- accreditation requests and the staff's space (habilitation)
_habilitation = _Area("habilitation")
DUPLICATE_EMAIL = _habilitation("duplicate_email", 400, "Chaque personne doit avoir sa propre adresse e-mail.")
INVALID_DECISION = _habilitation("invalid_decision", 400, "Décision inconnue.")
MISSING_TOKEN = _habilitation("missing_token", 401, "Ouvrez le lien reçu par e-mail pour suivre votre demande.")
NOT_STAFF = _habilitation("not_staff", 403, "Cet espace est réservé à l'équipe Aidants Connect.")
INVALID_TRANSITION = _habilitation("invalid_transition", 409, "Impossible depuis le statut actuel de la demande.")
NOT_EDITABLE = _habilitation("not_editable", 409, "Cette demande ne peut plus être modifiée.")
NOT_SUBMITTED = _habilitation("not_submitted", 409, "Envoyez d'abord votre demande.")
STALE = _habilitation("stale", 409, "La demande a changé entre-temps. Rechargez la page.")

# -- the training sandbox (shared.sandbox)
_sandbox = _Area("sandbox")
ALREADY_RESET = _sandbox("already_reset", 409, "Votre bac à sable vient d'être réinitialisé. Rechargez la page.")
EMAIL_TAKEN = _sandbox("email_taken", 409, "Cette adresse e-mail est déjà inscrite au bac à sable.")

# -- OAuth 2.0 and OpenID Connect: the identity provider's protocol errors, Authlib's
# classes (the OAuth2Error subclass that carries each is named after it). Those of
# the authorization endpoint go back to the client (302) once its redirect URI is
# trusted, and are shown (400) before (RFC 6749 §4.1.2.1).
_oauth = _Area("oauth")
INVALID_CLIENT = _oauth("invalid_client", (400, 401), "Ce service n'est pas enregistré auprès d'Aidants Connect.")
INVALID_GRANT = _oauth("invalid_grant", 400, "Code d'autorisation invalide.")
UNSUPPORTED_GRANT_TYPE = _oauth("unsupported_grant_type", 400, "Seul grant_type=authorization_code est pris en charge.")
INVALID_TOKEN = _oauth("invalid_token", 401, "Jeton d'accès invalide.")  # RFC 6750 §3.1
LOGIN_REQUIRED = _oauth("login_required", (302, 401), "Le service demande une nouvelle connexion : reconnectez-vous.")
INSUFFICIENT_SCOPE = _oauth("insufficient_scope", 403, "Ce jeton d'accès ne permet pas cette demande.")  # RFC 6750
INTERACTION_REQUIRED = _oauth(
    "interaction_required",
    302,
    ("L'aidant doit choisir l'usager et la démarche : une connexion sans interaction est impossible."),
)
INVALID_SCOPE = _oauth("invalid_scope", 302, "Le scope doit contenir « openid ».")
REQUEST_NOT_SUPPORTED = _oauth(
    "request_not_supported", 302, "Les objets de requête (request) ne sont pas pris en charge."
)
REQUEST_URI_NOT_SUPPORTED = _oauth(
    "request_uri_not_supported", 302, "Le paramètre request_uri n'est pas pris en charge."
)
UNSUPPORTED_RESPONSE_TYPE = _oauth("unsupported_response_type", 302, "Seul response_type=code est pris en charge.")
