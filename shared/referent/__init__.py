"""The référent's space: the structures they manage, their aidants and their access.

Who may act: a référent (``Aidant.referent_of``) on the structures they manage, and
staff (``Aidant.is_staff``) on any structure — staff link and validate the card of a
new structure's référent before mailing the welcome kit. Anyone else gets 403 for
the whole space; a référent naming another structure, or an aidant who is not a
member of the structure named, gets 404 (the same answer as for something that does
not exist, so nothing is learnt about other structures).

When an aidant is active, and what (de)activating writes: ``shared.lifecycle``.
Deactivating in S removes S from their structures and ends their sessions in S at
once; if S was their last structure the account itself becomes inactive. The step
that completes the conditions of activation (a device confirmed here, the training
marked by staff) activates the account in the same write.

Every change is written with its journal entry in one TransactWrite; a failed
condition (a double click, a second référent) is a 409, never a half-write.

* ``access``: who may act on which structure and aidant;
* ``views``: the structures and aidants as the space shows them;
* ``activation``: activating and deactivating an aidant in a structure;
* ``devices``: OTP cards and phone apps (link, validate, unlink);
* ``switching``: an aidant of several structures acting for another one.
"""

from ..lifecycle import AIDANT_ACTIVATED, AIDANT_DEACTIVATED, AidantFile, read_file
from .access import Target, managed_aidant, managed_structure, require_device_authority, require_referent
from .activation import activate, deactivate
from .devices import (
    APP_ENROLMENT_STARTED,
    APP_UNLINKED,
    confirm_app,
    link_card,
    start_app,
    unlink_app,
    unlink_card,
    validate_card,
)
from .switching import STRUCTURE_SWITCHED, switch_structure
from .views import aidant_view, device_view, my_structures, structure_detail, structure_view

__all__ = [
    "AIDANT_ACTIVATED",
    "AIDANT_DEACTIVATED",
    "APP_ENROLMENT_STARTED",
    "APP_UNLINKED",
    "STRUCTURE_SWITCHED",
    "AidantFile",
    "Target",
    "activate",
    "aidant_view",
    "confirm_app",
    "deactivate",
    "device_view",
    "link_card",
    "managed_aidant",
    "managed_structure",
    "my_structures",
    "read_file",
    "require_device_authority",
    "require_referent",
    "start_app",
    "structure_detail",
    "structure_view",
    "switch_structure",
    "unlink_app",
    "unlink_card",
    "validate_card",
]
