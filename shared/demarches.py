"""The ten démarche categories (docs/architecture.md §1). Keys are stable identifiers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Demarche:
    key: str
    title: str
    description: str
    examples: tuple[str, ...]
    icon: str  # file name under frontend/img/demarches/


DEMARCHES: dict[str, Demarche] = {
    d.key: d
    for d in [
        Demarche(
            "papiers",
            "Papiers - Citoyenneté - Élections",
            "État-civil, Passeport, Élections, Papiers à conserver, Carte d'identité…",
            ("ANTS", "Défenseur des droits"),
            "papiers.svg",
        ),
        Demarche(
            "famille",
            "Famille - Scolarité",
            "Allocations familiales, Naissance, Mariage, Pacs, Scolarité…",
            ("CAF", "ameli.fr", "EduConnect"),
            "famille.svg",
        ),
        Demarche(
            "social",
            "Social - Santé",
            "Carte vitale, Chômage, Handicap, RSA, Personnes âgées…",
            ("ameli.fr", "MSA"),
            "social.svg",
        ),
        Demarche(
            "travail",
            "Travail - Formation",
            "CDD, Concours, Retraite, Démission, Période d'essai…",
            ("France Travail", "Mon compte formation", "info-retraite.fr"),
            "travail.svg",
        ),
        Demarche(
            "logement",
            "Logement",
            "Allocations logement, Permis de construire, Logement social, Fin de bail…",
            ("CAF", "Enedis"),
            "logement.svg",
        ),
        Demarche(
            "transports",
            "Transports - Mobilité",
            "Carte grise, Permis de conduire, Contrôle technique, Infractions…",
            ("ANTS", "ANTAI", "Crit'air"),
            "transports.svg",
        ),
        Demarche(
            "argent",
            "Argent - Impôts - Consommation",
            "Crédit immobilier, Impôts, Consommation, Livret A, Assurance, Surendettement…",
            ("Impots.gouv", "Timbres fiscaux", "Banque"),
            "argent.svg",
        ),
        Demarche(
            "justice",
            "Justice",
            "Casier judiciaire, Plainte, Aide juridictionnelle, Saisie…",
            ("Télérecours citoyens",),
            "justice.svg",
        ),
        Demarche(
            "etranger",
            "Étranger - Europe",
            "Titres de séjour, Attestation d'accueil, Regroupement familial…",
            ("OFPRA",),
            "etranger.svg",
        ),
        Demarche(
            "loisirs",
            "Loisirs - Sport - Culture",
            "Animaux, Permis bateau, Tourisme, Permis de chasser…",
            ("Ariane",),
            "loisirs.svg",
        ),
    ]
}


def as_json(key: str) -> dict:
    d = DEMARCHES[key]
    return {"key": d.key, "title": d.title, "description": d.description, "examples": list(d.examples)}
