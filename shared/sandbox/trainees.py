"""Trainees of the sandbox: public sign-up, their account, the reset to the starting
situations.

A trainee signs up with a name and an e-mail (``shared.emails.normalize``), and gets
at once an active aidant account, a TOTP device (the secret is answered once, shown
as a QR code and as text; the front-end also keeps it in the browser to show a
virtual OTP card), and a fictitious structure of their own holding the guide's
situations (``situations``): two trainees of one training group never share a
structure, so neither sees the other's usagers, mandates or e-mails.

Everything the sign-up writes carries the trainee's end as ``ttl``
(``SANDBOX_TRAINEE_DAYS``, 30, after sign-up; ``store.expiring``), and so does
everything the trainee's requests write later (``shared.sessions`` sets it from the
structure). Checked in code too: an account past its end cannot log in, its
sessions stop, and its e-mail can be signed up again.

Sign-up is public, so it is rate-limited (``shared.ratelimit``, one conditional
write per use): per address per day and in all per hour. Its writes go in an order
that makes a failure harmless: the structure and its situations first, the
account last, in one transaction with the claim on the e-mail; a sign-up that fails
before it leaves a structure nobody can reach, which expires.

Reset moves the trainee to a new structure with fresh situations, in one
transaction (the aidant's structure, the old structure closed, the session
replaced), rather than deleting what they did: a bounded number of writes whatever
they created, and the old structure's items, unreachable, expire with the account.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone

import pyotp
import segno

from .. import accounts, cgu, crypto, emails, errors, journal, listings, mandates, otp, ratelimit
from .. import error_codes as codes
from ..config import settings
from ..http import Response
from ..sessions import Caller, new_session, set_cookie
from ..store import Aidant, EmailClaim, Membership, Session, Structure, expired, expiring, now, transaction, writes
from . import identities, situations

TRAINEE_CREATED = "sandbox_trainee_created"
TRAINEE_RESET = "sandbox_trainee_reset"
PROFESSION = "Stagiaire en formation (bac à sable)"
ISSUER_NAME = "Aidants Connect (bac à sable)"
ADDRESS = "1 place de la Formation, 02000 Laon (adresse fictive)"
MAX_NAME = 100


def _name(data: dict, name: str, label: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise errors.BadRequest(f"Le champ « {label} » est obligatoire.", code=codes.INVALID_FIELD, field=name)
    value = " ".join(value.split())
    if len(value) > MAX_NAME or not value.isprintable():
        raise errors.BadRequest(f"Le champ « {label} » n'est pas valide.", code=codes.INVALID_FIELD, field=name)
    return value


def _iso(epoch: int | float | None) -> str | None:
    return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat(timespec="seconds") if epoch else None


def _new_structure(first_name: str, last_name: str) -> Structure:
    # A SIRET-shaped number that no real structure has (zeros first).
    fictitious_siret = "00000" + "".join(secrets.choice("0123456789") for _ in range(9))
    return accounts.new_structure(
        f"Structure d'entraînement de {first_name} {last_name}", fictitious_siret, ADDRESS, structure_type="sandbox"
    )


def _take_allowance(email: str) -> None:
    cfg = settings()
    busy = "Trop d'inscriptions au bac à sable{}. Réessayez plus tard."
    ratelimit.take_for_address(
        "sandbox-signup", email, cfg.sandbox_signups_per_email_per_day, cfg.sandbox_signups_per_hour, busy
    )


def _email_taken(email: str, now_s: int) -> bool:
    """Claimed by an account still alive (a claim past its ttl is the previous
    trainee's, whose account has ended: the address may be signed up again)."""
    claim = EmailClaim.find(email, consistent=True)
    return claim is not None and not expired(claim, now_s)


def _taken() -> errors.Conflict:
    return errors.Conflict(
        "Cette adresse e-mail est déjà inscrite au bac à sable : connectez-vous avec votre "
        "code, ou inscrivez-vous avec une autre adresse.",
        code=codes.EMAIL_TAKEN,
        field="email",
    )


def enrolment(email: str, secret: str) -> dict:
    """How the trainee adds the device to a phone application: the secret as text,
    its otpauth URI and a QR code of it (SVG, no imaging library)."""
    uri = pyotp.TOTP(secret, interval=otp.APP_INTERVAL).provisioning_uri(name=email, issuer_name=ISSUER_NAME)
    qr = segno.make(uri, error="m", micro=False)
    return {
        "totp_secret": secret,
        "otpauth_uri": uri,
        "interval": otp.APP_INTERVAL,
        "qr_svg_data_uri": qr.svg_data_uri(scale=5, border=2, dark="#000000", light="#ffffff"),
    }


def sign_up(data: dict) -> dict:
    """POST /api/sandbox/trainees ``{"email", "first_name", "last_name"}``."""
    email = emails.normalize(data.get("email"), field="email", label="adresse e-mail")
    first_name = _name(data, "first_name", "prénom")
    last_name = _name(data, "last_name", "nom")
    _take_allowance(email)
    now_s = int(time.time())
    if _email_taken(email, now_s):
        raise _taken()
    end = now_s + settings().sandbox_trainee_days * 86400
    with expiring(end):
        structure = _new_structure(first_name, last_name)
        writes.put_new(structure)
        situations.install(structure)
        aidant_id = crypto.new_id()
        aidant = Aidant(
            *Aidant.key(aidant_id),
            id=aidant_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
            profession=PROFESSION,
            structure_ids={structure.id},
            current_structure_id=structure.id,
            referent_of=set(),
            is_active=True,
            created_at=now(),
            # The exercises are about mandates: a trainee starts with the terms of use
            # accepted (they read them at /cgu/ like anyone).
            cgu_version=cgu.current_version(),
            cgu_accepted_at=now(),
        )
        device, secret = otp.new_device(aidant_id, "app")
        claim = EmailClaim(*EmailClaim.key(email), aidant_id=aidant_id)
        with transaction(_taken()) as tx:  # a concurrent sign-up with the same address won
            tx.save(aidant, condition=Aidant.pk.does_not_exist())
            tx.save(claim, condition=EmailClaim.pk.does_not_exist() | (EmailClaim.ttl < now_s))
            tx.save(Membership.new(structure.id, aidant_id))
            tx.save(device)
            tx.save(
                journal.entry(TRAINEE_CREATED, aidant_id=aidant_id, structure_id=structure.id),
                condition=journal.append_condition(),
            )
    return {
        "aidant": {"id": aidant_id, "email": email, "first_name": first_name, "last_name": last_name},
        "structure": {"id": structure.id, "name": structure.name},
        "expires_at": _iso(end),
        **enrolment(email, secret),
    }


def account(caller: Caller) -> dict:
    """GET /api/sandbox/trainee: the trainee's account, and each situation as it
    stands in their structure (one Query of the structure's mandates)."""
    structure_id = caller.structure_id
    by_usager: dict[str, list[dict]] = {}
    page = listings.mandates_of_structure(structure_id, limit=listings.MAX_LIMIT)
    at = now()
    for mandate in page.items:
        by_usager.setdefault(mandate.usager_id, []).append(
            {
                "id": mandate.id,
                "status": mandates.status_of(mandate, at),
                "demarches": list(mandate.demarches),
                "active_demarches": sorted(mandate.active_demarches or ()),
                "expires_at": mandates.iso(mandate.expires_at),
                "created_at": mandates.iso(mandate.created_at),
            }
        )
    structure = Structure.find(structure_id)
    if structure is None:
        # The session found it, but DynamoDB's TTL deleted it since (the trainee's end
        # passed): the answer sessions gives an expired trainee, not a 500.
        raise errors.Unauthorized("Votre compte d'entraînement a expiré.", code=codes.SESSION_REVOKED)
    aidant = caller.aidant
    return {
        "aidant": {
            "id": aidant.id,
            "email": aidant.email,
            "first_name": aidant.first_name,
            "last_name": aidant.last_name,
        },
        "structure": {"id": structure.id, "name": structure.name},
        "expires_at": _iso(aidant.ttl),
        "situations": [
            dict(
                s.describe(), usager_id=s.usager_id(structure_id), mandates=by_usager.get(s.usager_id(structure_id), [])
            )
            for s in situations.SITUATIONS
        ],
    }


def reset(caller: Caller, response: Response) -> dict:
    """POST /api/sandbox/trainee/reset: the starting situations again, in a new
    structure; the browser's session follows the trainee there."""
    aidant = caller.aidant
    old_id = caller.structure_id
    end = aidant.ttl or int(time.time()) + settings().sandbox_trainee_days * 86400
    with expiring(end):
        structure = _new_structure(aidant.first_name, aidant.last_name)
        writes.put_new(structure)
        situations.install(structure)
        session, cookie = new_session(aidant.id, structure.id, expires_at=int(caller.session.expires_at))
        A = Aidant
        changed = errors.Conflict(
            "Votre bac à sable vient d'être réinitialisé. Rechargez la page.", code=codes.ALREADY_RESET
        )
        with transaction(changed) as tx:  # two clicks: one reset, the other told so
            tx.update(
                A(*A.key(aidant.id)),
                actions=[A.structure_ids.set({structure.id}), A.current_structure_id.set(structure.id)],
                condition=A.current_structure_id == old_id,
            )
            tx.save(Membership.new(structure.id, aidant.id))
            tx.update(Structure(*Structure.key(old_id)), actions=[Structure.is_active.set(False)])
            tx.delete(Session(caller.session.pk, caller.session.sk))
            tx.save(session, condition=Session.pk.does_not_exist())
            tx.save(
                journal.entry(
                    TRAINEE_RESET,
                    aidant_id=aidant.id,
                    structure_id=structure.id,
                    details={"previous_structure": old_id},
                ),
                condition=journal.append_condition(),
            )
    set_cookie(response, cookie, session)
    return {"structure": {"id": structure.id, "name": structure.name}, "expires_at": _iso(end)}


def public() -> dict:
    """GET /api/sandbox: what the sandbox is, for its pages (no session)."""
    cfg = settings()
    return {
        "sandbox": True,
        "trainee_days": cfg.sandbox_trainee_days,
        "signup": "/bac-a-sable/",
        "demo_site": "/demo/",
        "franceconnect_identities": list(identities.IDENTITIES),
        "situations": situations.describe(),
    }
