"""Our log lines reach the container's log in the image as they do locally.

The ``python3-http`` template configures no logging of its own: ``waitress.serve``
calls ``logging.basicConfig()``, which leaves the root logger at WARNING. Left so, every
INFO line of ours (one access line per request, the anonymous refusals, the
outbox's progress) would be dropped in production while ``make up`` showed them.
So the first request a function serves sets the ``aidants_connect`` loggers to INFO,
and gives the root logger a stderr handler if nobody did (the of-watchdog forwards
the process's stderr to the container log). Other libraries keep the root's WARNING.
"""

from __future__ import annotations

import logging
import threading

LOGGER = "aidants_connect"
FORMAT = "%(levelname)s:%(name)s:%(message)s"  # logging.basicConfig's, as waitress leaves it

_lock = threading.Lock()
_done = False


def ensure_configured() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        if not logging.getLogger().handlers:
            logging.basicConfig(format=FORMAT)
        ours = logging.getLogger(LOGGER)
        if ours.level == logging.NOTSET:  # a level set on purpose (tests, ops) is kept
            ours.setLevel(logging.INFO)
        _done = True
