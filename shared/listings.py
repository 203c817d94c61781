"""The structure's mandates and usagers, as the "Mes mandats" and "Mes usagers"
screens list them: newest first, paginated with an opaque cursor.

Each page is one or a few Queries on the structure's mandate index (gsi1) or on one
usager's (gsi2), never a Scan: the cost of a request does not grow with the table.
Status filters are applied to what the Queries return (the status depends on the
time of the request, so it cannot be indexed); a page may then come back shorter
than asked, with a cursor to go on, rather than reading without bound.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass, field

from . import error_codes as codes
from . import errors
from .demarches import DEMARCHES
from .demarches import as_json as demarche_json
from .documents import DURATION_LABELS
from .mandates import iso, load_for_structure, mandate_json, status_of, usager_json
from .store import Mandate, Usager, now

STATUSES = ("active", "expired", "revoked", "replaced")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERIES = 4  # per request, whatever the filters
_CURSOR_PART = re.compile(r"[A-Za-z0-9_\-:.+#]{1,200}")


@dataclass
class Page:
    items: list[Mandate] = field(default_factory=list)
    cursor: str | None = None


def _encode_cursor(mandate_id: str, sort_key: str) -> str:
    raw = json.dumps([mandate_id, sort_key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """Only the item's id and sort key travel; the partition is always rebuilt from
    the caller's structure, so a forged cursor cannot reach another structure."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mandate_id, sort_key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError) as err:
        raise errors.BadRequest("Le curseur de pagination n'est pas valide.", code=codes.INVALID_CURSOR) from err
    if not (
        isinstance(mandate_id, str)
        and isinstance(sort_key, str)
        and _CURSOR_PART.fullmatch(mandate_id)
        and _CURSOR_PART.fullmatch(sort_key)
    ):
        raise errors.BadRequest("Le curseur de pagination n'est pas valide.", code=codes.INVALID_CURSOR)
    return mandate_id, sort_key


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if value in (None, ""):
        return default
    # isascii: "²".isdigit() is True but int("²") fails.
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        raise errors.BadRequest(
            f"Le paramètre « limit » doit être un entier entre 1 et {maximum}.", code=codes.INVALID_LIMIT
        )
    return int(value)


def parse_status(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in STATUSES:
        raise errors.BadRequest(
            "Le paramètre « status » doit valoir active, expired, revoked ou replaced.", code=codes.INVALID_STATUS
        )
    return value


def mandates_of_structure(
    structure_id: str,
    *,
    usager_id: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    keep=None,
) -> Page:
    """A page of the structure's mandates (or of one usager's with it), newest first."""
    after = _decode_cursor(cursor) if cursor else None
    at = now()
    page = Page()
    last: Mandate | None = None
    exhausted = False
    for _ in range(MAX_QUERIES):
        results = Mandate.of_structure(structure_id, usager_id, limit=limit, after=after)
        for mandate in results:
            last = mandate
            if (status is None or status_of(mandate, at) == status) and (keep is None or keep(mandate)):
                page.items.append(mandate)
                if len(page.items) == limit:
                    break
        if len(page.items) == limit:
            break
        if not results.last_evaluated_key:
            exhausted = True
            break
        if last is None:  # DynamoDB never ends an empty page early: a Query without a filter
            raise RuntimeError("an empty page of mandates said more follow")
        after = (last.id, last.list_position)
    if last is not None and not exhausted:
        page.cursor = _encode_cursor(last.id, last.list_position)
    return page


def _fold(text: str) -> str:
    """Case and accent insensitive search: « Éloïse » is found by « eloise »."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_matches(query: str | None):
    if not query:
        return None
    if len(query) > 100:
        raise errors.BadRequest("La recherche est trop longue.", code=codes.INVALID_QUERY)
    words = _fold(query).split()
    return lambda mandate: all(w in _fold(mandate.usager_name or "") for w in words)


def usagers_of_structure(
    structure_id: str, *, query: str | None = None, cursor: str | None = None, limit: int = MAX_LIMIT
) -> dict:
    """The structure's usagers, derived from its mandates (newest first), each with
    the mandates seen on this page. A usager with many mandates may appear on two
    pages: the front-end merges by ``id``."""
    page = mandates_of_structure(structure_id, limit=limit, cursor=cursor, keep=name_matches(query))
    at = now()
    usagers: dict[str, dict] = {}
    for mandate in page.items:
        entry = usagers.setdefault(
            mandate.usager_id,
            {"id": mandate.usager_id, "name": mandate.usager_name, "active_demarches": set(), "mandates": []},
        )
        state = status_of(mandate, at)
        if state == "active":
            entry["active_demarches"].update(mandate.active_demarches or ())
        entry["mandates"].append(
            {
                "id": mandate.id,
                "status": state,
                "demarches": list(mandate.demarches),
                "active_demarches": sorted(mandate.active_demarches or ()),
                "created_at": iso(mandate.created_at),
                "expires_at": iso(mandate.expires_at),
            }
        )
    listed = []
    for entry in usagers.values():
        entry["active_demarches"] = sorted(entry["active_demarches"])
        entry["has_active_mandate"] = bool(entry["active_demarches"])
        listed.append(entry)
    return {"usagers": listed, "next_cursor": page.cursor}


def mandate_detail(structure_id: str, mandate_id: str) -> dict:
    """One mandate of the structure with its autorisations and its usager."""
    mandate, autorisations = load_for_structure(mandate_id, structure_id)
    body = mandate_json(mandate, autorisations)
    usager = Usager.find(mandate.usager_id)
    body["usager"] = (usager_json(usager) | {"full_name": usager.full_name}) if usager else None
    body["demarches_details"] = [demarche_json(k) for k in mandate.demarches if k in DEMARCHES]
    body["duration_label"] = DURATION_LABELS.get(mandate.duration, mandate.duration)
    return body
