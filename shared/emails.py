"""E-mail addresses that people type: exactly one mailbox, in one normal form.

Every address the service accepts (login, the accreditation request's référent and
aidants, later invitations) goes through :func:`normalize`, and every e-mail leaves
through :func:`envelope`. A loose check (``[^@\\s]+@[^@\\s]+``) let through
``a,victim@example.org``, ``c<victim@example.org`` or ``root;x@evil.example``: once in
a ``To`` header, which smtplib used to read its recipients from, such an address
reached other mailboxes, and escaped the per-address limit of the public
accreditation form (a mass mailer under our name). ``email-validator`` checks the
RFC 5322 / 6531 syntax of one addr-spec: no display name, no quoted local part, no
IP literal, no list.

The normal form is what is stored, looked up (``EMAIL#<address>``) and rate-limited
(``hmac(address)``): NFC, the domain as email-validator normalises it (IDNA,
lower case) and the local part in lower case. Mail servers treat local parts
case-insensitively in practice; without this, ``Remi@…`` and ``remi@…`` would be two
accounts and two allowances of the rate limit.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from . import error_codes as codes
from . import errors

MAX_LENGTH = 254  # RFC 3696 errata / RFC 5321 §4.5.3.1.3 (path minus the brackets)


def _validated(address: object):
    if not isinstance(address, str) or len(address) > 4 * MAX_LENGTH:
        return None
    text = unicodedata.normalize("NFC", address.strip())
    if not text:
        return None
    try:
        # No DNS query: a request must not wait on (or leak to) a resolver, and an
        # address with no MX today may be right tomorrow. Local parts stay ASCII: not
        # every SMTP relay speaks SMTPUTF8, and an address we cannot write to is no use.
        return validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError:
        return None


def normalize(address: object, *, field: str = "email", label: str = "adresse e-mail") -> str:
    """The normal form of one mailbox, or a 400 naming ``field`` (its path in the
    request body) whose French message names ``label``."""
    if address is None or (isinstance(address, str) and not address.strip()):
        raise errors.BadRequest(f"Le champ « {label} » est obligatoire.", code=codes.INVALID_EMAIL, field=field)
    valid = _validated(address)
    if valid is None:
        raise errors.BadRequest(
            f"Le champ « {label} » doit contenir une seule adresse e-mail valide, par exemple nom@domaine.fr.",
            code=codes.INVALID_EMAIL,
            field=field,
        )
    return unicodedata.normalize("NFC", valid.normalized.lower())


def is_valid(address: object) -> bool:
    return _validated(address) is not None


def envelope(address: str) -> str:
    """The SMTP envelope recipient of a stored address (ASCII: IDNA domain), or
    ValueError. The envelope is always given to SMTP explicitly, never read back
    from the message's headers."""
    valid = _validated(address)
    if valid is None or valid.ascii_email is None:
        raise ValueError("not one deliverable mailbox")
    return valid.ascii_email
