"""The training sandbox ("bac à sable"): the same functions, deployed as a second
stack with ``PROFILE=sandbox`` (``shared.config``), its own table, issuer, signing
keys and FranceConnect stand-in (README, "Training sandbox"; docs/deploy.md).

* ``trainees``: public sign-up, the trainee's account, reset to the starting situations;
* ``situations``: the guide's situations and the starting state of a trainee's structure;
* ``identities``: the situations' people, as the FranceConnect stand-in identifies them;
* ``inbox``: where the sandbox's e-mails go instead of a mailbox.

What the profile changes elsewhere, each time in one place: every item written
without a ``ttl`` gets one (``store.base``: the trainee's end, or 30 days), and an
account or structure past its ``ttl`` is gone for login and sessions
(``shared.login``, ``shared.sessions``); a right code opens the session without an
e-mailed link (``config``: ``login_link_enabled``); e-mails go to the trainee's
inbox (``shared.notifications``), SMTP is never opened; usagers are per structure
(``shared.mandates.usager_id_for``); a process whose table or issuer is
production's refuses every request (``shared.http``). Outside the sandbox profile
the ``sandbox`` function answers 404 to every route.
"""
