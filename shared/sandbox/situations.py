"""The training situations of the guide ("guide de formation des aidants", the
exercises played in the bac à sable), and the starting state each trainee's
structure gets: usagers with and without mandates, one mandate about to end, one
revoked, Angela Claire Louise DUBOIS among them.

Everything is made through the same code as in production (``shared.mandates``,
``shared.revocation``): real usagers, mandates, autorisations and journal entries
of the trainee's structure, which the identity provider offers and the lists show.
Two of them were signed by a fictitious colleague months ago (the guide's "mandat
existant au sein de la structure"). No e-mail is written for them: the trainee's
inbox starts empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .. import documents, mandates, revocation
from ..config import settings
from ..store import Structure, now
from .identities import IDENTITIES, sub_for

COLLEAGUE_ID = "sandbox-colleague"  # not an account: the name on the older mandates
COLLEAGUE_NAME = "Dominique LEROY (collègue fictif)"


@dataclass(frozen=True)
class Start:
    """A mandate the situation starts with."""

    demarches: tuple[str, ...]
    duration: str
    signed_days_ago: int
    revoked: bool = False


@dataclass(frozen=True)
class Situation:
    person: str  # key of IDENTITIES, the FranceConnect stand-in's identity
    number: str
    title: str
    story: str
    todo: str
    start: Start | None = None

    @property
    def full_name(self) -> str:
        identity = IDENTITIES[self.person]
        return f"{identity['given_name']} {identity['family_name']}"

    def usager_id(self, structure_id: str) -> str:
        """The usager the stand-in's identity becomes in this structure."""
        return mandates.usager_id_for(sub_for(self.person, settings().franceconnect_client_id), structure_id)

    def describe(self) -> dict:
        return {
            "key": self.person,
            "number": self.number,
            "title": self.title,
            "story": self.story,
            "todo": self.todo,
            "person": {"key": self.person, "full_name": self.full_name},
            "starts_with": None
            if self.start is None
            else (
                "revoked_mandate"
                if self.start.revoked
                else "expiring_mandate"
                if _ends_within_days(self.start, 7)
                else "mandate"
            ),
        }


def _ends_within_days(start: Start, days: int) -> bool:
    signed = now() - timedelta(days=start.signed_days_ago)
    return mandates.expiry_for(start.duration, signed) <= now() + timedelta(days=days)


SITUATIONS: tuple[Situation, ...] = (
    Situation(
        "angela",
        "7",
        "Créer un mandat et réaliser une démarche",
        "Angela a fait l'acquisition d'un nouveau véhicule. Elle doit obtenir une carte grise. La préfecture "
        "l'a dirigée vers la démarche en ligne mais elle ne parvient pas à la réaliser seule. Elle amène ses "
        "papiers et vous utilisez votre ordinateur pour l'accompagner dans sa démarche.",
        "Créez un mandat « Transports - Mobilité » avec Angela : elle se connecte avec FranceConnect (identité "
        "« Angela Claire Louise DUBOIS »). Réalisez ensuite sa démarche sur le site de démonstration "
        "(« S'identifier avec FranceConnect », puis « Vous êtes un aidant professionnel »). Enfin, révoquez "
        "le mandat et imprimez l'attestation de révocation.",
    ),
    Situation(
        "jimmy",
        "3",
        "Créer un mandat",
        "Jimmy est un jeune majeur, il vit en zone rurale éloignée. Sans aides d'aucune part, il doit "
        "rapidement toucher des aides au logement pour ne pas se retrouver à la rue. Il ne sait pas comment "
        "s'y prendre.",
        "La situation est urgente : créez un mandat « Logement » avec Jimmy, qui se connecte avec "
        "FranceConnect (identité « Jimmy ROUX »).",
    ),
    Situation(
        "rosalie",
        "2",
        "Renouveler un mandat et ajouter un périmètre",
        "À 62 ans, Rosalie est à l'aube de sa retraite et doit urgemment se créer un compte auprès de la "
        "CARSAT. Elle a déjà un mandat concernant son logement, qui arrive à échéance dans quelques jours.",
        "Renouvelez son mandat depuis « Mes mandats » en ajoutant « Travail - Formation » (la retraite).",
        Start(("logement",), "six_months", 179),
    ),
    Situation(
        "michel",
        "5",
        "Utiliser un mandat existant au sein de la structure",
        "Michel souhaite être accompagné pour continuer à remplir son dossier de retraite. Il l'a déjà "
        "commencé avec l'un de vos collègues habilité Aidants Connect, mais celui-ci est en congé.",
        "Le mandat de votre structure couvre déjà ce périmètre : réalisez la démarche « Travail - Formation » "
        "de Michel sur le site de démonstration, sans créer de nouveau mandat.",
        Start(("travail",), "long", 60),
    ),
    Situation(
        "jordy",
        "8",
        "Révoquer un mandat",
        "Jordy, un jeune homme que vous accompagnez depuis quelque temps pour les démarches concernant son "
        "insertion professionnelle, vous annonce qu'il déménage et souhaite se faire accompagner par une "
        "nouvelle structure sur les mêmes démarches.",
        "Les mandats sont établis au nom d'une structure : révoquez le mandat de Jordy et imprimez "
        "l'attestation de révocation à lui remettre.",
        Start(("travail", "social"), "long", 120),
    ),
    Situation(
        "florence",
        "4",
        "Consulter un mandat révoqué",
        "Florence avait signé un mandat pour que l'on gère avec elle son compte Ameli. Elle a depuis choisi "
        "de recevoir ses relevés par courrier et a demandé la fin du mandat, qui a été révoqué.",
        "Retrouvez le mandat révoqué de Florence dans « Mes mandats » et imprimez son attestation de révocation.",
        Start(("social",), "six_months", 40, revoked=True),
    ),
)


def describe() -> list[dict]:
    return [s.describe() for s in SITUATIONS]


def install(structure: Structure) -> None:
    """The starting state of every situation, in a structure created for it (its
    items take the trainee's end: the caller holds ``store.expiring``). A few writes
    per situation: a usager, a mandate's transaction, a revocation's."""
    client_id = settings().franceconnect_client_id
    text = documents.mentions_text(structure.name)
    for situation in SITUATIONS:
        if situation.start is None:
            continue  # a person at the desk, known to FranceConnect, with no mandate yet
        identity = IDENTITIES[situation.person]
        usager = mandates.upsert_usager(sub_for(situation.person, client_id), identity, structure.id)
        start = situation.start
        mandate = mandates.create(
            mandates.NewMandate(
                structure_id=structure.id,
                usager=usager,
                demarches=list(start.demarches),
                duration=start.duration,
                is_remote=False,
                remote_consent=None,
                aidant_id=COLLEAGUE_ID,
                aidant_name=COLLEAGUE_NAME,
                text_snapshot=text,
                signed_at=now() - timedelta(days=start.signed_days_ago),
            )
        )
        if start.revoked:
            loaded, autorisations = mandates.load(mandate.id)
            revocation.apply(revocation.plan(loaded, autorisations, None), COLLEAGUE_ID, structure.id)
