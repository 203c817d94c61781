"""What anonymous requests leave behind: one structured JSON log line each.

The journal records what someone accountable did: an aidant with a session, a
client that authenticated, an aidant whose code was right. A request with neither a
session nor client authentication must not be able to grow the table, so its
refusals (an unknown e-mail, a wrong code, a used login link…) and the steps of an
accreditation draft are log lines, bounded by the log retention, plus counters that
expire (``shared.otp.Throttle``, ``shared.ratelimit``). Nothing secret goes into a
line: no code, no token, no cookie, no address in clear (``email_ref`` is a keyed
hash, enough to see that one address is being tried again and again).
"""

from __future__ import annotations

import json
import logging

from . import crypto

log = logging.getLogger("aidants_connect.anonymous")

# Field names that would carry a secret or an address: refused outright, so that a
# later call cannot log one by mistake.
_FORBIDDEN = frozenset({"code", "otp", "token", "link", "cookie", "password", "secret", "email", "state"})


def email_ref(address: str) -> str:
    """A short keyed hash of a (normalised) address, for log lines only."""
    return crypto.keyed_hash(address, "anonymous-log")[:16]


def log_event(event: str, **fields: object) -> dict:
    """Write one JSON line ``{"event": …, …}``; returns it (tests, callers)."""
    leaked = _FORBIDDEN.intersection(fields)
    if leaked:
        raise ValueError(f"anonymous log lines carry no secrets: {sorted(leaked)}")
    line = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    log.info(json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))
    return line
