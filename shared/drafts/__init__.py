"""Creating a mandate, step by step (the "Créer ou renouveler un mandat" screens):

1. ``create`` — the aidant's choices become a short-lived draft, and a
   FranceConnect login is started for it (``start_identification``);
2. ``identify`` — FranceConnect's callback: the state is consumed once, the login
   is completed and verified, the usager is created or refreshed and attached to
   the draft;
3. ``recap`` — what the usager is about to agree to, and ``printable``, the draft
   as the mandate will be printed ("Voir le projet de mandat");
4. ``sign`` — the aidant's TOTP, then the mandate in one ``TransactWrite`` that also
   marks the draft signed (condition: not signed yet, not expired, same usager), so
   a draft gives one mandate even under concurrent signatures.

* ``draft``: step 1, and loading a draft (``load``);
* ``callback``: step 2;
* ``signature``: steps 3 and 4.
"""

from .callback import CallbackOutcome, identify
from .draft import create, load, start_identification
from .signature import printable, recap, sign

__all__ = ["CallbackOutcome", "create", "identify", "load", "printable", "recap", "sign", "start_identification"]
