"""Typed errors. Raised once where the problem is found, turned into a response in
``shared.http`` only: ``{"error": code, "error_description": text}`` with the status.

Descriptions are French because the front-end shows them to aidants as they are.
An error about one input also names it in ``field`` (a path into the request body,
e.g. ``referent.email`` or ``aidants.0.email``), so the form can show the message
next to that input.
"""
from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "invalid_request"
    description = "Requête invalide."

    def __init__(self, description: str | None = None, *, code: str | None = None,
                 headers: dict | None = None, field: str | None = None, extra: dict | None = None):
        super().__init__(description or self.description)
        self.extra = extra or {}
        if description:
            self.description = description
        if code:
            self.code = code
        self.headers = headers or {}
        self.field = field

    def body(self) -> dict:
        body = {"error": self.code, "error_description": self.description, **self.extra}
        if self.field:
            body["field"] = self.field  # the form field the front-end shows the message next to
        return body


class BadRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    description = "Vous devez vous connecter."


class DuplicateCookie(Unauthorized):
    """Two values for one cookie: one of them was planted (a sibling site, or a script
    over plain http), and the server must not guess which one the browser meant."""
    code = "duplicate_cookie"
    description = ("Votre navigateur a envoyé deux cookies de session. Fermez toutes les fenêtres "
                   "du navigateur, puis reconnectez-vous.")


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    description = "Vous n'avez pas le droit de faire cela."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    description = "Introuvable."


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    description = "Méthode non autorisée."


class Conflict(ApiError):
    status = 409
    code = "conflict"
    description = "Cette action a déjà été effectuée."


class Gone(ApiError):
    status = 410
    code = "expired"
    description = "Ce lien a expiré ou a déjà été utilisé."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    description = "La requête est trop volumineuse."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    description = "Le corps de la requête doit être du JSON (Content-Type: application/json)."


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"
    description = "Trop de tentatives. Réessayez plus tard."


class ServiceUnavailable(ApiError):
    status = 503
    code = "temporarily_unavailable"
    description = "Le service est momentanément indisponible. Réessayez dans quelques instants."
