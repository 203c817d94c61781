"""Mandates: the legal link between a usager and a structure, scoped to démarches
and a duration. This module holds the rules and the writes; handlers call it.

A mandate and its autorisations are written in one ``TransactWrite`` with the journal
entry (and whatever the caller adds, e.g. consuming the draft), so a mandate is never
half-written. Renewal closes the usager's active autorisations of the same démarches
in the same structure in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Callable, Iterable

from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action

from . import crypto, errors, journal, stats
from . import error_codes as codes
from .config import settings
from .demarches import DEMARCHES
from .store import Autorisation, Mandate, Operation, Structure, Usager, expired, iso, now, read, transaction, writes
from .templates import PARIS

DURATIONS = ("short", "six_months", "long")
MANDATE_CREATED = "mandate_created"
AUTORISATION_REPLACED = "autorisation_replaced"


def expiry_for(duration: str, start: datetime) -> datetime:
    """``short`` ends at the end of the next day in Paris; the others count days."""
    if duration == "short":
        next_day = start.astimezone(PARIS).date() + timedelta(days=1)
        return datetime.combine(next_day, dtime(23, 59, 59), tzinfo=PARIS).astimezone(start.tzinfo)
    if duration == "six_months":
        return start + timedelta(days=182)
    if duration == "long":
        return start + timedelta(days=365)
    raise errors.BadRequest("Durée de mandat inconnue.", code=codes.INVALID_DURATION)


def validate_demarches(value: object) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > len(DEMARCHES):
        raise errors.BadRequest("Sélectionnez au moins une démarche.", code=codes.INVALID_DEMARCHES)
    keys = []
    for key in value:
        if not isinstance(key, str) or key not in DEMARCHES:
            raise errors.BadRequest("Démarche inconnue.", code=codes.INVALID_DEMARCHES)
        if key not in keys:
            keys.append(key)
    return keys


def status_of(mandate: Mandate, at: datetime | None = None) -> str:
    at = at or now()
    if mandate.revoked_at is not None:
        return "revoked"
    if mandate.expires_at <= at:
        return "expired"
    if not mandate.active_demarches:
        return "replaced"
    return "active"


def covers_condition(structure_id: str, usager_id: str, at: datetime | None = None):
    """The autorisation still lets ``structure_id`` act for ``usager_id`` now: the
    condition of a ``ConditionCheck`` in the transaction that acts on it (code, token),
    so that a revocation between the read and the write stops the write."""
    return Autorisation.covers_condition(structure_id, usager_id, at or now())


def is_active_for(autorisation, structure_id: str, usager_id: str, demarche: str, at: datetime | None = None) -> bool:
    """What :func:`covers_condition` checks, on an item already read."""
    return isinstance(autorisation, Autorisation) and autorisation.covers(
        structure_id, usager_id, demarche, at or now()
    )


# -- queries the identity provider and the lists use ------------------------------


def active_autorisations_of_structure(structure_id: str, at: datetime | None = None) -> list[Autorisation]:
    """Unexpired, unrevoked autorisations of a structure: one Query on the sparse index."""
    return Autorisation.active_of_structure(structure_id, at or now())


def active_autorisation_values(
    structure_id: str, names: list[str], at: datetime | None = None, as_stored: frozenset[str] = frozenset()
) -> list[dict]:
    """The same Query, as the values of ``names`` only and no model instances
    (``store.query_values``): the identity provider's offer reads every active
    autorisation of the structure at each request."""
    return Autorisation.active_values_of_structure(structure_id, names, at or now(), as_stored)


def iso_of_stored(stored: str) -> str:
    """:func:`iso` of a date as ``UTCDateTimeAttribute`` stores it
    (``2026-03-01T12:30:45.000000+0000`` → ``2026-03-01T12:30:45+00:00``)."""
    return stored[:19] + "+00:00"


def active_autorisations_of_usager(
    structure_id: str, usager_id: str, demarche: str | None = None
) -> list[Autorisation]:
    return Autorisation.active_of_usager(structure_id, usager_id, demarche)


def active_autorisation(structure_id: str, usager_id: str, demarche: str) -> Autorisation | None:
    """The autorisation that lets this structure act for this usager on this démarche now."""
    found = Autorisation.active_of_usager(structure_id, usager_id, demarche)
    return found[0] if found else None


def load(mandate_id: str) -> tuple[Mandate, list[Autorisation]]:
    """A mandate and its autorisations: one Query on its partition."""
    mandate, autorisations = Mandate.with_autorisations(mandate_id)
    if mandate is None or expired(mandate):  # expired: a sandbox trainee's, past its end
        raise errors.NotFound("Mandat introuvable.")
    return mandate, autorisations


def load_for_structure(mandate_id: str, structure_id: str) -> tuple[Mandate, list[Autorisation]]:
    """Another structure's mandate is answered exactly like a missing one (404)."""
    mandate, autorisations = load(mandate_id)
    if mandate.structure_id != structure_id:
        raise errors.NotFound("Mandat introuvable.")
    return mandate, autorisations


# -- creation -----------------------------------------------------------------------


@dataclass
class NewMandate:
    structure_id: str
    usager: Usager
    demarches: list[str]
    duration: str
    is_remote: bool
    remote_consent: dict | None
    aidant_id: str
    aidant_name: str
    text_snapshot: str
    # When it was signed, if not now: the training sandbox's starting situations
    # (shared/sandbox/situations.py) include mandates signed months ago, one of them
    # about to end. The expiry follows from it as for any mandate.
    signed_at: datetime | None = None


def create(
    spec: NewMandate,
    extra: Iterable[Operation] | Callable[[Mandate], Iterable[Operation]] = (),
    conflict: Exception | None = None,
) -> Mandate:
    """Sign a mandate: mandate, autorisations, renewal of overlapping ones, journal.

    ``extra`` holds more operations for the same transaction (``store.Operation``,
    e.g. consuming the draft, the outbox item): all or nothing. ``extra`` may also be
    a function of the new mandate, for operations that need its id or dates. A
    failed condition (the draft signed meanwhile, an autorisation revoked by a
    concurrent request) raises ``conflict`` (``store.transaction``)."""
    demarches = validate_demarches(spec.demarches)
    if spec.duration not in DURATIONS:
        raise errors.BadRequest("Durée de mandat inconnue.", code=codes.INVALID_DURATION)
    mandate = _new_mandate(spec, demarches)
    extra = list(extra(mandate) if callable(extra) else extra)
    active = active_autorisations_of_usager(spec.structure_id, spec.usager.id)
    first_for_usager = spec.usager.accompanied_at is None
    try:
        _write_signature(
            spec, mandate, active, extra, first_for_usager, _UsagerCountedMeanwhile() if first_for_usager else conflict
        )
    except _UsagerCountedMeanwhile:
        # Read without a first mandate, and refused: maybe because another signature
        # (another structure, or a stale read) counted the usager first. Nothing was
        # written: sign again, counting them only if they still are not counted (any
        # other condition that failed fails again, as the caller's ``conflict``).
        _write_signature(spec, mandate, active, extra, not _accompanied(spec.usager.id), conflict)
    return mandate


class _UsagerCountedMeanwhile(Exception):
    pass


def _accompanied(usager_id: str) -> bool:
    usager = Usager.find(usager_id, consistent=True)
    return usager is not None and usager.accompanied_at is not None


def _write_signature(
    spec: NewMandate,
    mandate: Mandate,
    active: list[Autorisation],
    extra: list[Operation],
    first_for_usager: bool,
    conflict: Exception | None,
) -> None:
    demarches = list(mandate.demarches)
    renewed = [a for a in active if a.demarche in demarches]
    renewal, ended = _renewal(active, renewed, mandate, spec.aidant_id)
    with transaction(conflict) as tx:
        tx.save(mandate, condition=Mandate.pk.does_not_exist())
        for demarche in demarches:
            tx.save(
                Autorisation.new(
                    mandate.id,
                    demarche,
                    structure_id=spec.structure_id,
                    usager_id=spec.usager.id,
                    expires_at=mandate.expires_at,
                    created_at=mandate.created_at,
                ).copy_usager(spec.usager),
                condition=Autorisation.pk.does_not_exist(),
            )
        tx.include(renewal)
        if first_for_usager:
            tx.include([Usager.accompanied_operation(spec.usager.id, mandate.created_at)])
        tx.include(stats.mandate_signed(mandate.created_at, first_for_usager, ended).operations(mandate.id))
        tx.save(
            journal.entry(
                MANDATE_CREATED,
                aidant_id=spec.aidant_id,
                structure_id=spec.structure_id,
                usager_id=spec.usager.id,
                mandate_id=mandate.id,
                details={
                    "demarches": ",".join(demarches),
                    "duration": spec.duration,
                    "is_remote": spec.is_remote,
                    "renewed": ",".join(sorted({a.mandate_id for a in renewed})),
                },
            ),
            condition=journal.append_condition(),
        )
        tx.include(extra)


def _new_mandate(spec: NewMandate, demarches: list[str]) -> Mandate:
    signed_at = spec.signed_at or now()
    return Mandate.new(
        crypto.new_id(),
        structure_id=spec.structure_id,
        usager_id=spec.usager.id,
        demarches=demarches,
        active_demarches=set(demarches),
        duration=spec.duration,
        expires_at=expiry_for(spec.duration, signed_at),
        is_remote=spec.is_remote,
        remote_consent=spec.remote_consent,
        signed_by=spec.aidant_id,
        signed_by_name=spec.aidant_name,
        usager_name=spec.usager.full_name,
        text_snapshot=spec.text_snapshot,
        created_at=signed_at,
    )


def _renewal(
    active: list[Autorisation], renewed: list[Autorisation], mandate: Mandate, aidant_id: str
) -> tuple[list[Operation], int]:
    """The usager's active autorisations of the new mandate's démarches, closed as
    replaced by it, and their mandates' ``active_demarches`` shrunk; with how many of
    those mandates are left no démarche (they stop being in force: ``shared.stats``)."""
    operations: list[Operation] = []
    by_old_mandate: dict[str, set[str]] = {}
    for old in renewed:
        # Conditional: if a concurrent revocation closed it first, the whole
        # signature fails instead of silently re-activating anything.
        operations.append(
            (
                "update",
                old,
                {
                    "actions": Autorisation.closing_actions(mandate.created_at, aidant_id, replaced_by=mandate.id),
                    "condition": Autorisation.still_active(),
                },
            )
        )
        by_old_mandate.setdefault(old.mandate_id, set()).add(old.demarche)
    ended = 0
    for old_id, closed in by_old_mandate.items():
        # The old mandate holds exactly the démarches read as active: whether the
        # renewal leaves it none (out of "in force", once) is decided on that.
        still = {a.demarche for a in active if a.mandate_id == old_id}
        actions: list[Action] = [Mandate.active_demarches.delete(closed)]
        condition = size(Mandate.active_demarches) == len(still)
        if still <= closed:
            actions.append(Mandate.stats_ended_at.set(mandate.created_at))
            condition &= Mandate.stats_ended_at.does_not_exist()
            ended += 1
        operations.append(("update", Mandate(*Mandate.key(old_id)), {"actions": actions, "condition": condition}))
    return operations, ended


# -- usagers ------------------------------------------------------------------------


def usager_id_for(fc_sub: str, structure_id: str | None = None) -> str:
    """The usager FranceConnect identifies by ``fc_sub``. In the training sandbox
    every trainee's structure has usagers of its own: all trainees log the same test
    identities in (Angela Claire Louise DUBOIS…), and one shared usager item would
    carry one trainee's expiry into another's mandates."""
    if structure_id is not None and settings().sandbox:
        return crypto.keyed_hash(f"{structure_id}\n{fc_sub}", "sandbox-usager")[:26]
    return crypto.keyed_hash(fc_sub, "usager")[:26]


def usager_json(usager: Usager) -> dict:
    return {
        "id": usager.id,
        "given_name": usager.given_name,
        "family_name": usager.family_name,
        "preferred_username": usager.preferred_username,
        "birthdate": usager.birthdate,
        "gender": usager.gender,
        "birthplace": usager.birthplace,
        "birthcountry": usager.birthcountry,
        "email": usager.email,
    }


def upsert_usager(fc_sub: str, claims: dict, structure_id: str | None = None) -> Usager:
    """Create or refresh a usager from FranceConnect's identité pivot, identified for
    ``structure_id`` (which matters in the sandbox only: ``usager_id_for``). An update,
    not a put: what the identity does not carry (``accompanied_at``, ``created_at``)
    stays. The copies of its identity on its active autorisations follow."""
    usager_id = usager_id_for(fc_sub, structure_id)
    given_name = str(claims.get("given_name") or "").strip()
    family_name = str(claims.get("family_name") or "").strip()
    if not given_name or not family_name:
        raise errors.BadRequest("FranceConnect n'a pas transmis l'identité de l'usager.", code=codes.INVALID_IDENTITY)
    usager = Usager.refresh_identity(
        usager_id,
        now(),
        fc_sub=fc_sub,
        given_name=given_name,
        family_name=family_name,
        preferred_username=claims.get("preferred_username") or None,
        birthdate=claims.get("birthdate") or None,
        gender=claims.get("gender") or None,
        birthplace=claims.get("birthplace") or None,
        birthcountry=claims.get("birthcountry") or None,
        email=claims.get("email") or None,
    )
    sync_autorisations(usager)
    return usager


def sync_autorisations(usager: Usager) -> int:
    """Bring the copies of the usager's identity on their active autorisations
    (``Autorisation.USAGER_COPY``, every structure) up to date: one Query, and a write
    only where a copy differs. Returns the autorisations updated. Each write is
    conditional on the autorisation still being active: a closed one is history and
    keeps what it had."""
    updated = 0
    for auth in Autorisation.active_of_usager_everywhere(usager.id):
        actions = auth.usager_copy_actions(usager)
        if actions and writes.update(auth, actions, Autorisation.still_active_everywhere()):
            updated += 1
    return updated


def usager_and_structure(usager_id: str | None, structure_id: str) -> tuple[Usager | None, Structure | None]:
    """Both in one BatchGet (either may be missing)."""
    found = read([Structure.key(structure_id)] + ([Usager.key(usager_id)] if usager_id else []))
    usager = found.get(Usager.key(usager_id)) if usager_id else None
    structure = found.get(Structure.key(structure_id))
    return (usager if isinstance(usager, Usager) else None), (structure if isinstance(structure, Structure) else None)


def mandate_json(mandate: Mandate, autorisations: list[Autorisation] | None = None) -> dict:
    body = {
        "id": mandate.id,
        "structure_id": mandate.structure_id,
        "usager_id": mandate.usager_id,
        "usager_name": mandate.usager_name,
        "demarches": list(mandate.demarches),
        "active_demarches": sorted(mandate.active_demarches or ()),
        "duration": mandate.duration,
        "created_at": iso(mandate.created_at),
        "expires_at": iso(mandate.expires_at),
        "is_remote": mandate.is_remote,
        "remote_consent": dict(mandate.remote_consent.as_dict()) if mandate.remote_consent else None,
        "signed_by": mandate.signed_by_name,
        "status": status_of(mandate),
        "revoked_at": iso(mandate.revoked_at) if mandate.revoked_at else None,
    }
    if autorisations is not None:
        body["autorisations"] = [
            {
                "demarche": a.demarche,
                "expires_at": iso(a.expires_at),
                "revoked_at": iso(a.revoked_at) if a.revoked_at else None,
                "replaced_by": a.replaced_by,
                "status": "revoked"
                if a.revoked_at and not a.replaced_by
                else "replaced"
                if a.replaced_by
                else "expired"
                if a.expires_at <= now()
                else "active",
            }
            for a in sorted(autorisations, key=lambda a: a.demarche)
        ]
    return body
