"""The texts a mandate carries: the "Mentions à lire à l'usager" (stored with each
mandate as the text the usager agreed to), and the printable mandate and revocation
attestation the usager takes home (Jinja2, ``shared/templates/mandates/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import crypto, errors
from . import error_codes as codes
from .demarches import DEMARCHES
from .demarches import as_json as demarche_json
from .mandates import expiry_for, load_for_structure, status_of, usager_and_structure
from .store import Aidant, Autorisation, Mandate, MandateDraft, Structure, Usager, now
from .templates import environment, french_date

MENTIONS_TITLE = "Mentions à lire à l'usager"
_OBLIGATIONS = (
    "effectuer à votre place les démarches listées dans le mandat, à partir des informations "
    "que vous leur avez données ;",
    "collecter et conserver seulement les informations nécessaires aux démarches listées dans "
    "le mandat ou à celles qui s'y rattachent ;",
    "utiliser et communiquer seulement les informations nécessaires aux démarches listées dans "
    "le mandat ou à celles qui s'y rattachent ;",
    "vous informer et demander votre autorisation avant d'effectuer d'autres démarches que "
    "celles listées dans le mandat ;",
    "mettre à jour et supprimer l'ensemble de vos informations personnelles lorsqu'elles ne sont plus utiles ;",
    "s'interdire de rendre publiques vos informations personnelles ;",
    "prendre toutes les précautions pour assurer la sécurité de vos informations personnelles.",
)

DURATION_LABELS = {
    "short": "1 jour",
    "six_months": "6 mois",
    "long": "1 an",
}
DURATION_CHOICES = [
    {"key": "short", "label": "Mandat court", "detail": "expire demain"},
    {"key": "six_months", "label": "Mandat de 6 mois", "detail": "182 jours"},
    {"key": "long", "label": "Mandat long", "detail": "12 mois"},
]
CONSENT_METHODS = {"sms": "SMS", "email": "E-mail", "other": "Autre preuve écrite"}


def mentions(structure_name: str) -> dict:
    """The statements the aidant reads to the usager before signing."""
    return {
        "title": MENTIONS_TITLE,
        "intro": f"Les aidants habilités par {structure_name} doivent :",
        "obligations": list(_OBLIGATIONS),
        "conclusion": (
            f"À partir du moment où un aidant habilité par {structure_name} réalise à "
            "votre place une des démarches listées dans le mandat, il accepte de le faire "
            "dans les conditions décrites dans le mandat."
        ),
    }


def mentions_text(structure_name: str) -> str:
    """The mentions as plain text: what a mandate keeps as ``text_snapshot``."""
    m = mentions(structure_name)
    return "\n".join([m["title"], m["intro"], *("- " + o for o in m["obligations"]), m["conclusion"]])


def parse_mentions(text: str) -> dict:
    """Back from ``mentions_text`` to its parts, for printing a stored snapshot."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines.pop(0) if lines and lines[0] == MENTIONS_TITLE else MENTIONS_TITLE
    intro, obligations, conclusion = [], [], []
    for line in lines:
        if line.startswith("- "):
            obligations.append(line[2:])
        elif obligations:
            conclusion.append(line)
        else:
            intro.append(line)
    return {"title": title, "intro": " ".join(intro), "obligations": obligations, "conclusion": " ".join(conclusion)}


def verification_reference(mandate_id: str) -> str:
    """A short code printed on the paper mandate; derived with the server key, so
    only the service can tell whether a printed reference matches a mandate."""
    digest = crypto.keyed_hash(mandate_id, "mandate-reference").upper()
    digest = "".join(c for c in digest if c.isalnum())[:12]
    return f"AC-{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def demarche_details(keys) -> list[dict]:
    return [
        {"key": k, "title": DEMARCHES[k].title, "description": DEMARCHES[k].description} for k in keys if k in DEMARCHES
    ]


def _usager_context(usager: Usager | None, mandate: Mandate | _DraftAsPrinted) -> dict:
    if usager is None:
        return {
            "full_name": mandate.usager_name or "",
            "birthdate": None,
            "birthplace": None,
            "birthcountry": None,
            "email": None,
            "gender": None,
        }
    birthdate = None
    if usager.birthdate:
        try:
            birthdate = french_date(datetime.fromisoformat(usager.birthdate + "T12:00:00+00:00"))
        except ValueError:
            birthdate = usager.birthdate
    return {
        "full_name": usager.full_name,
        "birthdate": birthdate,
        "birthplace": usager.birthplace,
        "birthcountry": usager.birthcountry,
        "email": usager.email,
        "gender": usager.gender,
    }


def _render_print(
    mandate: "Mandate | _DraftAsPrinted",
    status: str,
    usager: Usager | None,
    structure: Structure | None,
    *,
    demarches: list[str],
    duration: str,
    remote_consent,
    mentions: dict,
    reference: str | None,
) -> str:
    """The printable mandate (templates/mandates/print.html), signed or a draft."""
    consent = remote_consent.as_dict() if remote_consent else {}
    return (
        environment()
        .get_template("mandates/print.html")
        .render(
            mandate=mandate,
            status=status,
            usager=_usager_context(usager, mandate),
            structure={
                "name": structure.name if structure else "",
                "siret": structure.siret if structure else "",
                "address": (structure.address or "") if structure else "",
            },
            demarches=demarche_details(demarches),
            duration_label=DURATION_LABELS.get(duration, duration),
            consent_method=CONSENT_METHODS.get(consent.get("method") or "", ""),
            consent_reference=consent.get("reference", ""),
            mentions=mentions,
            reference=reference,
            printed_at=now(),
            draft=status == "draft",
        )
    )


def render_mandate(mandate: Mandate, usager: Usager | None, structure: Structure | None) -> str:
    structure_name = structure.name if structure else ""
    return _render_print(
        mandate,
        status_of(mandate),
        usager,
        structure,
        demarches=mandate.demarches,
        duration=mandate.duration,
        remote_consent=mandate.remote_consent,
        mentions=parse_mentions(mandate.text_snapshot or mentions_text(structure_name)),
        reference=verification_reference(mandate.id),
    )


@dataclass
class _DraftAsPrinted:
    """What the printable mandate reads of a mandate, for a draft not yet signed."""

    id: str
    usager_name: str
    signed_by_name: str
    is_remote: bool
    expires_at: datetime
    created_at: None = None


def render_draft(draft: MandateDraft, usager: Usager, structure: Structure | None, aidant_name: str) -> str:
    """ "Voir le projet de mandat": the mandate as it will be printed once signed, from
    the draft (the end date if it were signed now), marked on every page as a draft
    that is not signed. It carries no verification reference: only a signed mandate
    has one."""
    preview = _DraftAsPrinted(
        id=draft.id,
        usager_name=usager.full_name,
        signed_by_name=aidant_name,
        is_remote=bool(draft.is_remote),
        expires_at=expiry_for(draft.duration, now()),
    )
    return _render_print(
        preview,
        "draft",
        usager,
        structure,
        demarches=draft.demarches,
        duration=draft.duration,
        remote_consent=draft.remote_consent,
        mentions=mentions(structure.name if structure else ""),
        reference=None,
    )


def render_revocation(
    mandate: Mandate,
    autorisations: list[Autorisation],
    usager: Usager | None,
    structure: Structure | None,
    aidant_names: dict[str, str],
) -> str:
    revoked = [
        a for a in sorted(autorisations, key=lambda a: a.demarche) if a.revoked_at is not None and not a.replaced_by
    ]
    rows = [
        {
            "title": DEMARCHES[a.demarche].title if a.demarche in DEMARCHES else a.demarche,
            "description": DEMARCHES[a.demarche].description if a.demarche in DEMARCHES else "",
            "revoked_at": a.revoked_at,
            "revoked_by": aidant_names.get(a.revoked_by or "", ""),
        }
        for a in revoked
    ]
    return (
        environment()
        .get_template("mandates/revocation.html")
        .render(
            mandate=mandate,
            usager=_usager_context(usager, mandate),
            structure={
                "name": structure.name if structure else "",
                "siret": structure.siret if structure else "",
                "address": (structure.address or "") if structure else "",
            },
            revoked=rows,
            whole=mandate.revoked_at is not None,
            revoked_by=aidant_names.get(mandate.revoked_by or "", ""),
            reference=verification_reference(mandate.id),
            printed_at=now(),
            draft=False,
        )
    )


# -- what mandate_read serves ------------------------------------------------------------


def printable_mandate(structure_id: str, mandate_id: str) -> str:
    mandate, _ = load_for_structure(mandate_id, structure_id)
    usager, structure = usager_and_structure(mandate.usager_id, mandate.structure_id)
    return render_mandate(mandate, usager, structure)


def printable_revocation(structure_id: str, mandate_id: str) -> str:
    mandate, autorisations = load_for_structure(mandate_id, structure_id)
    revokers = {a.revoked_by for a in autorisations if a.revoked_at is not None and not a.replaced_by}
    if not revokers:
        raise errors.NotFound("Ce mandat n'a fait l'objet d'aucune révocation.", code=codes.NOT_REVOKED)
    usager, structure = usager_and_structure(mandate.usager_id, mandate.structure_id)
    revokers |= {mandate.revoked_by} if mandate.revoked_by else set()
    names = {a.id: a.full_name for a in Aidant.batch_get([Aidant.key(i) for i in sorted(revokers) if i])}
    return render_revocation(mandate, autorisations, usager, structure, names)


def demarches_catalogue(structure_id: str | None) -> dict:
    """The démarches, durations and mentions, so the front-end never duplicates them.
    The mentions name the caller's structure when there is one."""
    structure_name = "votre structure"
    if structure_id:
        try:
            structure_name = Structure.get(*Structure.key(structure_id)).name
        except Structure.DoesNotExist:
            pass
    return {
        "demarches": [demarche_json(key) | {"icon": d.icon} for key, d in DEMARCHES.items()],
        "durations": [dict(choice, duration_label=DURATION_LABELS[choice["key"]]) for choice in DURATION_CHOICES],
        "consent_methods": [{"key": k, "label": v} for k, v in CONSENT_METHODS.items()],
        "mentions": mentions(structure_name),
    }
