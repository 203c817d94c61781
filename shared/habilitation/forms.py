"""What the accreditation pages send, checked: the request's form, a message, a
training mark. Every error names the input it is about (``field``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, overload

from .. import emails, errors
from .. import error_codes as codes
from ..store.habilitation import Person
from .rules import MAX_AIDANTS, MAX_MESSAGE, SIRET_RE, STRUCTURE_TYPES


# A required field is a string or a 400: None only when it is optional.
@overload
def _text(
    data: dict, name: str, label: str, max_len: int = 200, required: Literal[True] = True, path: str | None = None
) -> str: ...
@overload
def _text(
    data: dict, name: str, label: str, max_len: int = 200, *, required: bool, path: str | None = None
) -> str | None: ...
def _text(
    data: dict, name: str, label: str, max_len: int = 200, required: bool = True, path: str | None = None
) -> str | None:
    """``path``: where ``data`` sits in the body, so the error names the input."""
    field = f"{path}.{name}" if path else name
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise errors.BadRequest(f"Le champ « {label} » est obligatoire.", code=codes.INVALID_FIELD, field=field)
        return None
    if not isinstance(value, str) or len(value.strip()) > max_len or not value.strip().isprintable():
        raise errors.BadRequest(f"Le champ « {label} » n'est pas valide.", code=codes.INVALID_FIELD, field=field)
    return value.strip()


def _person(data: object, who: str, path: str, with_phone: bool = False) -> Person:
    if not isinstance(data, dict):
        raise errors.BadRequest(f"Merci de renseigner {who}.", code=codes.INVALID_FIELD, field=path)
    return Person(
        first_name=_text(data, "first_name", f"prénom ({who})", 100, path=path),
        last_name=_text(data, "last_name", f"nom ({who})", 100, path=path),
        # Each of these addresses is e-mailed (the référent now, every
        # person on acceptance): one mailbox each, in its normal form.
        email=emails.normalize(data.get("email"), field=f"{path}.email", label=f"adresse e-mail ({who})"),
        profession=_text(data, "profession", f"fonction ({who})", 150, path=path),
        phone=_text(data, "phone", f"téléphone ({who})", 30, required=False, path=path) if with_phone else None,
    )


@dataclass
class Form:
    siret: str
    name: str
    address: str
    structure_type: str
    referent: Person
    referent_is_aidant: bool
    aidants: list[Person]


def parse_form(data: dict) -> Form:
    siret = _text(data, "siret", "SIRET", 20).replace(" ", "")
    if not SIRET_RE.fullmatch(siret):
        raise errors.BadRequest("Le SIRET doit comporter 14 chiffres.", code=codes.INVALID_FIELD, field="siret")
    structure_type = data.get("structure_type")
    if not isinstance(structure_type, str) or structure_type not in STRUCTURE_TYPES:
        raise errors.BadRequest(
            "Merci de choisir le type de la structure.", code=codes.INVALID_FIELD, field="structure_type"
        )
    referent = _person(data.get("referent"), "le référent", "referent", with_phone=True)
    raw_aidants = data.get("aidants", [])
    if not isinstance(raw_aidants, list) or len(raw_aidants) > MAX_AIDANTS:
        raise errors.BadRequest(
            f"La liste des aidants doit compter au plus {MAX_AIDANTS} personnes.",
            code=codes.INVALID_FIELD,
            field="aidants",
        )
    aidants = [_person(a, f"l'aidant n°{i + 1}", f"aidants.{i}") for i, a in enumerate(raw_aidants)]
    referent_is_aidant = data.get("referent_is_aidant", False)
    if not isinstance(referent_is_aidant, bool):
        raise errors.BadRequest(
            "« referent_is_aidant » doit valoir true ou false.", code=codes.INVALID_FIELD, field="referent_is_aidant"
        )
    # Compared in normal form: "Alice@x.fr" and "alice@x.fr" are one person.
    seen = set() if referent_is_aidant else {referent.email}
    for i, person in enumerate(aidants):
        if person.email in seen:
            raise errors.BadRequest(
                "Chaque personne doit avoir sa propre adresse e-mail.",
                code=codes.DUPLICATE_EMAIL,
                field=f"aidants.{i}.email",
            )
        seen.add(person.email)
    aidants = [p for p in aidants if p.email != referent.email]  # the référent, listed once
    return Form(
        siret,
        _text(data, "name", "nom de la structure", 200),
        _text(data, "address", "adresse", 500),
        structure_type,
        referent,
        referent_is_aidant,
        aidants,
    )


def message_text(data: dict, required: bool = True) -> str | None:
    value = data.get("message")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise errors.BadRequest("Le message est vide.", code=codes.INVALID_FIELD)
        return None
    if not isinstance(value, str) or len(value) > MAX_MESSAGE:
        raise errors.BadRequest(f"Le message doit faire au plus {MAX_MESSAGE} caractères.", code=codes.INVALID_FIELD)
    return value.strip()


def parse_training(data: dict) -> tuple[str, bool]:
    trained_on = data.get("trained_on")
    try:
        day = date.fromisoformat(trained_on) if isinstance(trained_on, str) else None
    except ValueError:
        day = None
    if day is None or day > date.today():
        raise errors.BadRequest(
            "Indiquez la date de la formation (AAAA-MM-JJ, pas dans le futur).", code=codes.INVALID_FIELD
        )
    pix = data.get("pix_passed")
    if not isinstance(pix, bool):
        raise errors.BadRequest("Indiquez si le test PIX est réussi (true ou false).", code=codes.INVALID_FIELD)
    return day.isoformat(), pix
