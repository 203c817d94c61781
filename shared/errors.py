"""Typed errors. Raised once where the problem is found, turned into a response in
``shared.http`` only: ``{"error": code, "error_description": text}`` with the status.

Codes come from the catalogue (``shared.error_codes``), where each class's default
code has its status and its French default description. Descriptions are French
because the front-end shows them to aidants as they are.
An error about one input also names it in ``field`` (a path into the request body,
e.g. ``referent.email`` or ``aidants.0.email``), so the form can show the message
next to that input.
"""

from __future__ import annotations

from . import error_codes as codes


class ApiError(Exception):
    status = 400
    code = codes.INVALID_REQUEST
    description = codes.message(codes.INVALID_REQUEST)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "description" not in cls.__dict__:  # the catalogue's, for the class's own code
            cls.description = codes.message(cls.code)

    def __init__(
        self,
        description: str | None = None,
        *,
        code: str | None = None,
        headers: dict | None = None,
        field: str | None = None,
        extra: dict | None = None,
    ):
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
    code = codes.INVALID_REQUEST


class Unauthorized(ApiError):
    status = 401
    code = codes.UNAUTHORIZED


class DuplicateCookie(Unauthorized):
    """Two values for one cookie: one of them was planted (a sibling site, or a script
    over plain http), and the server must not guess which one the browser meant."""

    code = codes.DUPLICATE_COOKIE


class Forbidden(ApiError):
    status = 403
    code = codes.FORBIDDEN


class NotFound(ApiError):
    status = 404
    code = codes.NOT_FOUND


class MethodNotAllowed(ApiError):
    status = 405
    code = codes.METHOD_NOT_ALLOWED


class Conflict(ApiError):
    status = 409
    code = codes.CONFLICT


class Gone(ApiError):
    status = 410
    code = codes.EXPIRED


class PayloadTooLarge(ApiError):
    status = 413
    code = codes.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(ApiError):
    status = 415
    code = codes.UNSUPPORTED_MEDIA_TYPE


class TooManyRequests(ApiError):
    status = 429
    code = codes.TOO_MANY_REQUESTS


class ServiceUnavailable(ApiError):
    status = 503
    code = codes.TEMPORARILY_UNAVAILABLE
