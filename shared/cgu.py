"""The terms of use (conditions générales d'utilisation, CGU) an aidant accepts.

Each version's French text is a page of the front-end
(``frontend/templates/cgu/<version>.html``, shown at ``/cgu/``); the version in
force is ``config.CGU_VERSION``. An aidant who has not accepted that version can log
in, read the terms and look at their structure's mandates, but cannot create, sign,
revoke or use a mandate (the identity provider's offer and choice): the routes that
do ask ``sessions.authenticate(..., acting=True)``, which applies
:func:`require_accepted`, the one place this rule is written. A new version asks
every aidant again, since what they accepted is compared with the version in force.

Acceptance is a conditional update of the aidant and its journal entry (with the
version) in one transaction.
"""

from __future__ import annotations

from . import config, errors, journal
from . import error_codes as codes
from .store import Aidant, now, transaction

CGU_ACCEPTED = "cgu_accepted"
TERMS_PAGE = "/cgu/"
_MAX_VERSION = 32


def current_version() -> str:
    return config.CGU_VERSION


def status(aidant: Aidant) -> dict:
    """What ``GET /api/me`` says of the terms."""
    return {
        "accepted_version": aidant.cgu_version or None,
        "current_version": current_version(),
        "accepted": has_accepted(aidant),
        "url": TERMS_PAGE,
    }


def has_accepted(aidant: Aidant) -> bool:
    return aidant.cgu_version == current_version()


def require_accepted(aidant: Aidant) -> None:
    """403 ``cgu_not_accepted`` (the front-end links it to the terms) until the
    version in force is accepted."""
    if not has_accepted(aidant):
        raise errors.Forbidden(
            "Avant de créer, signer, révoquer ou utiliser un mandat, lisez et acceptez les conditions "
            f"générales d'utilisation d'Aidants Connect (version {current_version()}).",
            code=codes.CGU_NOT_ACCEPTED,
            extra={
                "cgu": {"accepted_version": aidant.cgu_version or None, "current_version": current_version()},
                "terms_url": TERMS_PAGE,
            },
        )


def accept(aidant: Aidant, version: object, structure_id: str | None) -> dict:
    """``POST /api/me/cgu {"version"}``: the aidant accepts the version they read,
    which must be the one in force (a page left open across a new version is not
    taken as agreement to the new text)."""
    if not isinstance(version, str) or not version or len(version) > _MAX_VERSION:
        raise errors.BadRequest(
            "Indiquez la version des conditions générales d'utilisation acceptée.",
            code=codes.INVALID_REQUEST,
            field="version",
        )
    if version != current_version():
        raise errors.Conflict(
            f"Les conditions générales d'utilisation ont changé : relisez la version {current_version()} "
            "avant de l'accepter.",
            code=codes.CGU_VERSION_OUTDATED,
            extra={"cgu": {"accepted_version": aidant.cgu_version or None, "current_version": current_version()}},
        )
    if not has_accepted(aidant):
        record_acceptance(aidant, version, structure_id=structure_id)
    return status(aidant)


def record_acceptance(aidant: Aidant, version: str, *, structure_id: str | None, via: str | None = None) -> None:
    """The acceptance and its journal entry, one transaction (``via``: who recorded it
    when it is not the aidant's own click, e.g. the local demo seed)."""
    previous = aidant.cgu_version or ""
    at = now()
    details = {"version": version, "previous": previous, **({"via": via} if via else {})}
    with transaction(errors.Conflict("Ce compte n'existe plus.", code=codes.CONFLICT)) as tx:
        tx.update(
            aidant,
            actions=[Aidant.cgu_version.set(version), Aidant.cgu_accepted_at.set(at)],
            condition=Aidant.pk.exists(),
        )
        tx.save(
            journal.entry(CGU_ACCEPTED, aidant_id=aidant.id, structure_id=structure_id, details=details),
            condition=journal.append_condition(),
        )
    aidant.cgu_version, aidant.cgu_accepted_at = version, at
