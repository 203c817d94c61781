"""The Jinja2 environment for e-mails and printable pages (``shared/templates/``)."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

PARIS = ZoneInfo("Europe/Paris")
_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


def french_date(value: datetime | str, with_time: bool = False) -> str:
    """Dates are stored in UTC and shown in Paris time, the French way."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(PARIS)
    text = f"{local.day} {_MONTHS[local.month - 1]} {local.year}"
    if with_time:
        text += f" à {local.hour:02d}h{local.minute:02d}"
    return text


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date_fr"] = french_date
    env.filters["datetime_fr"] = lambda v: french_date(v, with_time=True)
    return env
