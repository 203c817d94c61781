"""An aidant's lifecycle: when an account may be active, and the writes that
activate it, deactivate it and end its sessions. The référent's space
(``shared.referent``), staff's training marks (``shared.habilitation``) and an
invitation accepted (``shared.invitations``: the aidant joins one more structure)
all change it through here.

Active, per structure: an aidant acts for structure S while ``is_active`` and S is in
``structure_ids`` (``shared.sessions.authenticate`` checks both at every request).
An account becomes active only when trained (staff's mark: training date and PIX
test) and holding a confirmed card or app (:meth:`AidantFile.blockers`).

Activating and deactivating are lists of transaction operations (the aidant's
update, its journal entry and the public count of active aidants) that the caller puts into its own transaction, with
the change that caused them (a device confirmed, a training marked): one write, all
or nothing. Ending sessions is not one of them: an aidant may have more sessions
than a transaction holds items, and ``authenticate`` refuses them from the moment
the deactivation commits, so deleting them right after only makes it immediate.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.expressions.update import Action

from . import error_codes as codes
from . import errors, journal, stats
from .store import Aidant, Membership, Operation, Session, TotpDevice, Training

AIDANT_ACTIVATED = "aidant_activated"
AIDANT_DEACTIVATED = "aidant_deactivated"

BLOCKER_TEXT = {
    "training": "l'aidant n'a pas encore été marqué comme formé (formation et test PIX)",
    "device": "l'aidant n'a pas de carte Aidants Connect ni d'application validée",
}


@dataclass
class AidantFile:
    """An aidant with everything on their partition: devices and training."""

    aidant: Aidant
    devices: list[TotpDevice]
    training: Training | None

    @property
    def trained(self) -> bool:
        return self.training is not None and self.training.complete

    @property
    def has_confirmed_device(self) -> bool:
        return any(d.confirmed for d in self.devices)

    def blockers(self) -> list[str]:
        return [name for name, ok in (("training", self.trained), ("device", self.has_confirmed_device)) if not ok]

    def require_ready(self) -> None:
        """409 ``not_ready`` naming what is missing before the account may be active."""
        blockers = self.blockers()
        if blockers:
            raise errors.Conflict(
                "Impossible d'activer cet accès : " + " ; ".join(BLOCKER_TEXT[b] for b in blockers) + ".",
                code=codes.NOT_READY,
            )

    def active_in(self, structure_id: str) -> bool:
        return bool(self.aidant.is_active) and structure_id in (self.aidant.structure_ids or ())

    def device(self, kind: str, confirmed: bool | None = None) -> TotpDevice | None:
        for d in self.devices:
            if d.device_kind == kind and (confirmed is None or bool(d.confirmed) == confirmed):
                return d
        return None


def read_file(aidant_id: str) -> AidantFile | None:
    """One Query on the aidant's partition: the aidant, their devices, their training."""
    aidant, devices, training = Aidant.partition(aidant_id)
    return AidantFile(aidant, devices, training) if aidant is not None else None


def _entry(
    action: str, aidant: Aidant, actor_id: str, structure_id: str | None, details: dict, reason: str | None
) -> Operation:
    details = {"target_aidant": aidant.id, **details, **({"reason": reason} if reason else {})}
    return journal.operation(journal.entry(action, aidant_id=actor_id, structure_id=structure_id, details=details))


def activation(
    aidant: Aidant, *, actor_id: str, structure_id: str | None, reason: str | None = None, joins: bool = True
) -> list[Operation]:
    """The operations that make the account active, journaled in ``structure_id``
    as done by ``actor_id``. ``joins``: it works for ``structure_id`` from now on
    (the référent's activation), else it becomes active in the structures it has."""
    actions: list[Action] = [Aidant.is_active.set(True)]
    if joins:
        if structure_id is None:  # only joins=False (staff's training decision) may name none
            raise ValueError("an activation that joins a structure must name it")
        actions.append(Aidant.structure_ids.add({structure_id}))
        if not aidant.current_structure_id:
            actions.append(Aidant.current_structure_id.set(structure_id))
    return [
        ("update", aidant, {"actions": actions, "condition": Aidant.pk.exists() & _as_read(aidant)}),
        _entry(AIDANT_ACTIVATED, aidant, actor_id, structure_id, {}, reason),
        *_counted(aidant, True),
    ]


def _as_read(aidant: Aidant):
    """The account's ``is_active`` is still what was read: the public count of active
    aidants then moves once, whatever runs at the same time (two référents, two
    structures: the second is refused and sees the change)."""
    return Aidant.is_active == bool(aidant.is_active)


def _counted(aidant: Aidant, active: bool) -> list[Operation]:
    """The public count of active aidants (``shared.stats``): +1 or -1 when the
    account's ``is_active`` changes, nothing when it does not (an aidant already
    active in another structure, or deactivated in one of several)."""
    return stats.aidant_activity(bool(aidant.is_active), active).operations(aidant.id)


def joining(aidant: Aidant, *, structure_id: str, reason: str) -> list[Operation]:
    """The operations by which an active aidant starts working for one more
    structure on their own agreement (an invitation accepted with their code,
    ``shared.invitations``): its membership, the structure among those they act for,
    journaled there as their own activation. Only while the account is active: a
    deactivation racing the acceptance (a training mark corrected, say) wins, and
    this fails its condition rather than bring the account back."""
    return [
        (
            "update",
            aidant,
            {
                "actions": [Aidant.structure_ids.add({structure_id})],
                "condition": Aidant.pk.exists() & (Aidant.is_active == True),  # noqa: E712 (a condition, not a test)
            },
        ),
        ("save", Membership.new(structure_id, aidant.id), {}),
        _entry(AIDANT_ACTIVATED, aidant, aidant.id, structure_id, {}, reason),
    ]


@dataclass
class Deactivation:
    aidant_id: str
    operations: list[Operation]
    whole_account: bool  # the account itself becomes inactive, not only in one structure
    structure_id: str | None

    def end_sessions(self) -> int:
        """After the transaction: the sessions that no longer let the aidant act."""
        return end_sessions(self.aidant_id, None if self.whole_account else self.structure_id)


def deactivation(
    aidant: Aidant, *, actor_id: str, structure_id: str | None, reason: str | None = None, leaves: bool = True
) -> Deactivation:
    """The operations that stop the aidant acting, journaled in ``structure_id``.
    ``leaves``: for ``structure_id`` only (the référent's deactivation; their
    Membership stays, so the référent still lists them and may reactivate them), and
    the account itself when it was their last structure; else the whole account (a
    condition of being active no longer holds). Mandates belong to the structure and
    are not touched."""
    if not leaves:
        return Deactivation(
            aidant.id,
            [
                (
                    "update",
                    aidant,
                    {"actions": [Aidant.is_active.set(False)], "condition": Aidant.pk.exists() & _as_read(aidant)},
                ),
                _entry(AIDANT_DEACTIVATED, aidant, actor_id, structure_id, {}, reason),
                *_counted(aidant, False),
            ],
            True,
            structure_id,
        )
    remaining = set(aidant.structure_ids or ()) - {structure_id}
    actions: list[Action] = [Aidant.structure_ids.delete({structure_id})]
    if not remaining:
        actions.append(Aidant.is_active.set(False))
    if aidant.current_structure_id == structure_id:
        actions.append(
            Aidant.current_structure_id.set(sorted(remaining)[0]) if remaining else Aidant.current_structure_id.remove()
        )
    return Deactivation(
        aidant.id,
        [
            (
                "update",
                aidant,
                {"actions": actions, "condition": Aidant.structure_ids.contains(structure_id) & _as_read(aidant)},
            ),
            _entry(AIDANT_DEACTIVATED, aidant, actor_id, structure_id, {"last_structure": not remaining}, reason),
            *_counted(aidant, bool(aidant.is_active) and bool(remaining)),
        ],
        not remaining,
        structure_id,
    )


def end_sessions(aidant_id: str, structure_id: str | None = None) -> int:
    """Delete the aidant's sessions (in ``structure_id`` only, when given): one Query,
    one DeleteItem each. Returns how many were ended."""
    ended = 0
    for session in Session.of_aidant(aidant_id):
        if structure_id is None or session.structure_id == structure_id:
            session.delete()
            ended += 1
    return ended
