"""A demo government service and FranceConnect, playing *our* client (local only).

Served by the gateway under ``/demo`` (``python -m local up``), so that a person can
try the identity provider in a browser:

1. ``/demo/`` — a service page with « S'identifier avec FranceConnect »;
2. ``/demo/franceconnect`` — FranceConnect's account chooser, whose
   « Vous êtes un aidant professionnel » starts the OpenID Connect flow with our
   ``/oidc/authorize`` (Authlib's client, PKCE S256, ``state``, ``nonce``,
   ``acr_values=eidas1``);
3. the aidant logs in on our front-end and picks the usager and the démarche;
4. ``/demo/callback`` — exchanges the code, verifies the ID token against our JWKS
   (signature, ``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``), calls userinfo and
   shows the usager's identity as FranceConnect receives it.

Everything here is a client of the public HTTP contract; nothing reads the store
(but for its own registration, below). The pending logins live in memory, keyed by
a cookie.

The training sandbox deploys this very app as its function ``sandbox-demo``
(``functions/sandbox_demo``, through ``shared.wsgi``): there it says on every page
that it is a training environment with fictitious data, and registers itself as a
client of the sandbox's identity provider at its first login (its secret derives
from the stack's own HMAC key, so nobody has to copy it anywhere).
"""

from __future__ import annotations

import secrets as _secrets
import threading
import time
from html import escape
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from shared import crypto
from shared.config import settings

PREFIX = "/demo"
CLIENT_ID = "demo-franceconnect"
CLIENT_NAME = "FranceConnect (démo locale)"
SCOPE = "openid profile birth email"
COOKIE = "fi_demo"
PENDING_TTL = 900
SERVICE = "Mon Espace démarches (démo)"


def client_secret() -> str:
    """Stable across runs (derived from the local HMAC key), so ``seed`` is idempotent
    and this app needs no copy of it."""
    return crypto.keyed_hash(CLIENT_ID, "fi-demo-client-secret")


def redirect_uri(issuer: str | None = None) -> str:
    return f"{issuer or settings().issuer}{PREFIX}/callback"


def register_client() -> dict:
    """Register (or refresh) the demo client; what ``seed --json`` prints as ``client``."""
    from shared.oidc import clients

    clients.register(CLIENT_ID, CLIENT_NAME, [redirect_uri()], client_secret=client_secret())
    return {"client_id": CLIENT_ID, "client_secret": client_secret(), "redirect_uri": redirect_uri()}


# -- the app ------------------------------------------------------------------------

_pending: dict[str, dict] = {}
_lock = threading.Lock()

_STYLE = (
    "body{font-family:Marianne,Arial,sans-serif;margin:0;color:#161616}"
    "header{border-bottom:1px solid #ddd;padding:1rem 2rem}main{max-width:44rem;margin:2rem auto;padding:0 1rem}"
    ".fc{display:inline-block;background:#000091;color:#fff;padding:.8rem 1.4rem;text-decoration:none;"
    "font-weight:bold}.muted{color:#666}table{border-collapse:collapse}td,th{border:1px solid #ddd;"
    "padding:.3rem .6rem;text-align:left}.idp{display:inline-block;border:1px solid #ddd;padding:1rem;"
    "margin:.3rem;width:9rem;color:#595959}footer{margin-top:3rem;border-top:1px solid #ddd;padding-top:1rem}"
    ".training{background:#fff4f3;border-bottom:2px solid #ce0500;padding:.5rem 2rem;margin:0}"
)


TRAINING = "Environnement de formation – données fictives"


def _training_notice() -> str:
    if not settings().sandbox:
        return ""
    return (
        f"<section class='training' aria-label='{TRAINING}'><p><strong>{TRAINING}</strong> : "
        "ce site de démarches est une démonstration du bac à sable Aidants Connect. Aucune démarche "
        "réelle n'y est faite.</p></section>"
    )


def _page(title: str, body: str, status: str = "200 OK"):
    suffix = " (bac à sable de formation)" if settings().sandbox else ""
    html = (
        f"<!doctype html><html lang='fr'><meta charset='utf-8'><title>{escape(title)}{suffix}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style>"
        f"{_training_notice()}"
        f"<header><strong>{escape(SERVICE)}</strong> <span class='muted'>— service de démonstration, "
        f"client de FranceConnect</span></header><main>{body}</main></html>"
    )
    return status, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], html.encode()


def _redirect(location: str, cookie: str | None = None):
    headers = [("Location", location), ("Cache-Control", "no-store")]
    if cookie:
        headers.append(("Set-Cookie", f"{COOKIE}={cookie}; Path={PREFIX}; HttpOnly; SameSite=Lax"))
    return "302 Found", headers, b""


def _metadata() -> dict:
    response = requests.get(settings().issuer + "/.well-known/openid-configuration", timeout=5)
    response.raise_for_status()
    return response.json()


def _session(state: str | None = None) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        client_secret(),
        scope=SCOPE,
        redirect_uri=redirect_uri(),
        state=state,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def home(environ):
    return _page(
        SERVICE,
        f"""
<h1>Demander une carte grise</h1>
<p>Pour continuer, identifiez-vous.</p>
<p><a class="fc" href="{PREFIX}/franceconnect">S'identifier avec FranceConnect</a></p>
<p class="muted">Qu'est-ce que FranceConnect ? Le service qui vous permet de vous connecter avec un compte
que vous possédez déjà.</p>""",
    )


def chooser(environ):
    idps = "".join(
        f"<span class='idp'>{escape(name)}</span>"
        for name in ("impots.gouv.fr", "ameli.fr", "l'Identité Numérique La Poste", "MSA", "Yris", "France Identité")
    )
    return _page(
        "FranceConnect",
        f"""
<h1>FranceConnect</h1>
<p>Je choisis un compte pour me connecter sur : <strong>{escape(SERVICE)}</strong></p>
<p>{idps}</p>
<p class="muted">(Les comptes ci-dessus ne sont pas disponibles dans cette démonstration.)</p>
<footer>En savoir plus sur FranceConnect | CGU | Foire aux questions |
<a href="{PREFIX}/login"><strong>Vous êtes un aidant professionnel</strong></a></footer>""",
    )


_registered: set[str] = set()


def _ensure_registered() -> None:
    """The sandbox's demo site registers itself with its identity provider, once per
    process and issuer (idempotent: the same client, secret and address each time).
    ``make up`` has ``seed`` do it."""
    issuer = settings().issuer
    if settings().sandbox and issuer not in _registered:
        register_client()
        _registered.add(issuer)


def _unreachable(exc: Exception):
    return _page(
        "Erreur",
        "<h1>Aidants Connect ne répond pas</h1><p>Le fournisseur d'identité n'a pas pu "
        f"être joint : <code>{escape(type(exc).__name__)}</code>.</p><p><a href='{PREFIX}/'>Recommencer"
        "</a></p>",
        "502 Bad Gateway",
    )


def login(environ):
    try:
        _ensure_registered()
        meta = _metadata()
    except requests.RequestException as exc:  # a demo page: say so, rather than a 500
        return _unreachable(exc)
    nonce, verifier = _secrets.token_urlsafe(24), _secrets.token_urlsafe(48)
    url, state = _session().create_authorization_url(
        meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier, acr_values="eidas1"
    )
    key = _secrets.token_urlsafe(24)
    with _lock:
        now = time.time()
        for old in [k for k, v in _pending.items() if v["at"] < now - PENDING_TTL]:
            del _pending[old]
        _pending[key] = {"state": state, "nonce": nonce, "verifier": verifier, "at": now}
    return _redirect(url, cookie=key)


def callback(environ):
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    key = cookie[COOKIE].value if COOKIE in cookie else None
    with _lock:
        pending = _pending.pop(key, None) if key else None
    query = environ.get("QUERY_STRING", "")
    if pending is None:
        return _page(
            "Erreur",
            f"<h1>Session expirée</h1><p>Recommencez depuis <a href='{PREFIX}/'>la page du service</a>.</p>",
            "400 Bad Request",
        )
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        return _page(
            "Erreur",
            f"<h1>Connexion refusée</h1><p><code>{escape(params['error'])}</code> : "
            f"{escape(params.get('error_description', ''))}</p><p><a href='{PREFIX}/'>Recommencer</a></p>",
            "400 Bad Request",
        )
    try:
        meta = _metadata()
    except requests.RequestException as exc:
        return _unreachable(exc)
    session = _session(state=pending["state"])
    try:
        token = session.fetch_token(
            meta["token_endpoint"],
            authorization_response=redirect_uri() + "?" + query,
            code_verifier=pending["verifier"],
        )
        claims = verify_id_token(token, meta, pending["nonce"])
        userinfo = session.get(meta["userinfo_endpoint"], timeout=5)
        userinfo.raise_for_status()
        identity = userinfo.json()
    except Exception as exc:  # a demo page: show what went wrong instead of a 500
        return _page(
            "Erreur",
            f"<h1>Échec de la connexion</h1><p><code>{escape(str(exc))}</code></p>"
            f"<p><a href='{PREFIX}/'>Recommencer</a></p>",
            "502 Bad Gateway",
        )
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in identity.items())
    id_rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in claims.items() if k not in identity
    )
    name = f"{identity.get('given_name', '')} {identity.get('family_name', '')}".strip()
    return _page(
        SERVICE,
        f"""
<h1>Bonjour {escape(name or identity.get("sub", ""))}</h1>
<p>Vous êtes connecté(e) via FranceConnect. Un aidant professionnel agit pour vous avec
Aidants Connect (niveau <code>{escape(str(claims.get("acr")))}</code>).</p>
<h2>Identité transmise par FranceConnect (userinfo)</h2><table>{rows}</table>
<h2>Jeton d'identité vérifié (signature {escape(claims.header.get("alg", ""))}, kid
<code>{escape(str(claims.header.get("kid")))}</code>)</h2><table>{id_rows}</table>
<p><a href="{PREFIX}/">Revenir au service</a></p>""",
    )


def verify_id_token(token: dict, meta: dict, nonce: str) -> CodeIDToken:
    """What a relying party does (OpenID Connect Core §3.1.3.7), with joserfc and
    Authlib's claim checks: signature against the published JWKS, then iss, aud,
    exp, iat, nonce and at_hash."""
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    asymmetric = [a for a in meta["id_token_signing_alg_values_supported"] if not a.startswith("HS")]
    decoded = jwt.decode(token["id_token"], keys, algorithms=asymmetric)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [meta["issuer"]]}},
        {"nonce": nonce, "client_id": CLIENT_ID, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    return claims


ROUTES = {"/": home, "": home, "/franceconnect": chooser, "/login": login, "/callback": callback}


def make_app():
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")[len(PREFIX) :]
        handler = ROUTES.get(path)
        if handler is None or environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            status, headers, body = _page("Introuvable", "<h1>Page introuvable</h1>", "404 Not Found")
        else:
            status, headers, body = handler(environ)
        start_response(status, headers)
        return [body]

    return app


def seed(out: dict) -> None:
    """``seed --json``'s part: the demo client, and ``usager.sub`` as our userinfo
    gives it to that client (FranceConnect's own ``sub`` is kept as ``fc_sub``).
    Reuses the demo usager and mandate when an earlier step made them."""
    from shared.oidc import claims

    out["client"] = register_client()
    if out.get("usager") is None:
        out.update(_demo_usager_with_mandate())
    usager = out["usager"]
    if "fc_sub" not in usager:
        usager["fc_sub"] = usager.get("sub")
    usager["sub"] = claims.subject_for(usager["id"], CLIENT_ID)


def _demo_usager_with_mandate() -> dict:
    from shared import mandates

    usager = mandates.upsert_usager(
        "fi-demo-usager",
        {
            "given_name": "Angela Claire Louise",
            "family_name": "DUBOIS",
            "birthdate": "1962-08-24",
            "gender": "female",
            "birthplace": "75107",
            "birthcountry": "99100",
            "email": "angela.dubois@example.fr",
        },
    )
    active = mandates.active_autorisations_of_usager("demo-structure-a", usager.id)
    mandate_id = (
        active[0].mandate_id
        if active
        else mandates.create(
            mandates.NewMandate(
                structure_id="demo-structure-a",
                usager=usager,
                demarches=["papiers", "social", "argent"],
                duration="long",
                is_remote=False,
                remote_consent=None,
                aidant_id="demo-aidant",
                aidant_name="Camille Fwolk",
                text_snapshot="Mandat de démonstration",
            )
        ).id
    )
    return {"usager": {"id": usager.id, "sub": "fi-demo-usager"}, "mandate": {"id": mandate_id}}
