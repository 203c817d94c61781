"""A FranceConnect stand-in for local runs and tests (we are its service provider
when a mandate is created). It plays the real OpenID Connect protocol, so the
project's client (``shared.franceconnect``) talks to it exactly as to FranceConnect:

* ``/franceconnect/.well-known/openid-configuration`` and ``/franceconnect/jwks``;
* ``/franceconnect/authorize``: checks the request as FranceConnect does (client,
  registered redirect URI, ``response_type=code``, ``openid`` scope, ``state``,
  ``nonce``, ``acr_values``), then shows a page to pick a test identity, with a
  cancel link that answers ``error=access_denied``. With ``login_hint=<identity
  key>`` it redirects back at once (lets scripts skip the page; only
  the stand-in accepts it);
* ``/franceconnect/token`` (``client_secret_post`` or ``client_secret_basic``):
  single-use codes, ID tokens signed RS256 with a ``kid``, ``nonce`` echoed,
  ``acr=eidas1``;
* ``/franceconnect/userinfo``: the identité pivot as a signed JWT
  (``application/jwt``), as FranceConnect v2 answers;
* a single sign-on session, as FranceConnect keeps one: after a login, the same
  browser is logged in again at once by the next ``/authorize`` (unless
  ``prompt=login``), until ``/franceconnect/session/end`` (RP-initiated logout:
  ``id_token_hint`` checked, ``post_logout_redirect_uri`` exact, ``state`` echoed).
  This is the risk our logout after each identification closes: the next usager
  at the aidant's desk would otherwise be identified as the previous one.

State (codes, tokens, pending logins) lives in memory: the stand-in runs inside the
gateway process, and a restart of the stack starts afresh. The training sandbox runs
it as a function of its own stack (``functions/sandbox_franceconnect``, one
replica), where every page says it is a training environment with fictitious data.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from html import escape
from urllib.parse import parse_qsl, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey

from shared.config import secret, settings

from .identities import IDENTITIES, claims_for, sub_for

PREFIX = "/franceconnect"
CODE_TTL = 60
TOKEN_TTL = 60
INTERACTION_TTL = 600
SESSION_TTL = 1800
SESSION_COOKIE = "fc_sid"
ACR_VALUES = ("eidas1", "eidas2", "eidas3")
CLIENT_SECRET = "franceconnect-client-secret"


def _json(status: str, body: dict, extra: list | None = None):
    data = json.dumps(body, ensure_ascii=False).encode()
    return (
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        + (extra or []),
        data,
    )


def _html(status: str, body: str):
    return (
        status,
        [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")],
        body.encode(),
    )


def _redirect(location: str, extra: list | None = None):
    return "302 Found", [("Location", location), ("Cache-Control", "no-store")] + (extra or []), b""


def _session_cookie(value: str, max_age: int) -> tuple[str, str]:
    return "Set-Cookie", f"{SESSION_COOKIE}={value}; Path={PREFIX}/; Max-Age={max_age}; HttpOnly; SameSite=Lax"


def _cookie(environ, name: str) -> str | None:
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


TRAINING = "Environnement de formation – données fictives"


def _banner() -> str:
    if settings().sandbox:
        return (
            f'<section class="bandeau" aria-label="{TRAINING}"><strong>{TRAINING}</strong> : FranceConnect '
            "simulé du bac à sable Aidants Connect, avec des identités de test.</section>"
        )
    return '<div class="bandeau">FranceConnect — simulation locale (aucune donnée réelle)</div>'


def _page(title: str, content: str) -> str:
    suffix = "bac à sable de formation" if settings().sandbox else "simulation locale"
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – FranceConnect ({suffix})</title>
<style>
body {{ font-family: Marianne, Arial, sans-serif; background: #f6f6f6; color: #161616; margin: 0; }}
main {{ max-width: 640px; margin: 32px auto; background: #fff; padding: 24px 32px; }}
.bandeau {{ background: #000091; color: #fff; padding: 8px 16px; font-size: 14px; }}
h1 {{ font-size: 22px; }} ul {{ list-style: none; padding: 0; }}
li {{ border: 1px solid #ddd; margin: 8px 0; padding: 12px 16px; display: flex; justify-content: space-between;
      align-items: center; gap: 16px; }}
button {{ font: inherit; background: #000091; color: #fff; border: 0; padding: 8px 16px; cursor: pointer; }}
.detail {{ color: #666; font-size: 14px; }}
</style></head>
<body>{_banner()}<main>{content}</main></body></html>"""


class StandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: RSAKey | None = None
        self._interactions: dict[str, dict] = {}
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}
        self._sessions: dict[str, dict] = {}  # the browser's FranceConnect session: id → identity

    # -- configuration, read at request time (the gateway sets the environment first)
    @staticmethod
    def issuer() -> str:
        return settings().franceconnect_url

    @staticmethod
    def client_id() -> str:
        return settings().franceconnect_client_id

    @staticmethod
    def redirect_uris() -> set[str]:
        return {settings().issuer + "/fc/callback"}

    @staticmethod
    def post_logout_redirect_uris() -> set[str]:
        base = settings().frontend_url
        return {base + "/mandats/recapitulatif/", base + "/mandats/nouveau/"}

    def key(self) -> RSAKey:
        with self._lock:
            if self._key is None:
                key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
                key.ensure_kid()
                self._key = key
            return self._key

    def _sign(self, claims: dict) -> str:
        key = self.key()
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    def _purge(self) -> None:
        now = time.time()
        for store in (self._interactions, self._codes, self._tokens, self._sessions):
            for k in [k for k, v in store.items() if v["expires_at"] <= now]:
                del store[k]

    # -- WSGI -----------------------------------------------------------------------
    def __call__(self, environ, start_response):
        try:
            status, headers, body = self.dispatch(environ)
        except Exception:  # the stand-in must never take the gateway down
            import logging

            logging.getLogger("franceconnect").exception("stand-in error")
            status, headers, body = _json(
                "500 Internal Server Error", {"error": "server_error", "error_description": "Erreur du simulateur."}
            )
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def dispatch(self, environ):
        path = environ.get("PATH_INFO", "")
        sub = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        method = environ["REQUEST_METHOD"].upper()
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if sub == "/.well-known/openid-configuration" and method in ("GET", "HEAD"):
            return self.discovery()
        if sub == "/jwks" and method in ("GET", "HEAD"):
            return _json("200 OK", {"keys": [self.key().as_dict(private=False)]})
        if sub == "/authorize" and method in ("GET", "HEAD"):
            return self.authorize(query, _cookie(environ, SESSION_COOKIE))
        if sub.startswith("/interaction/"):
            parts = sub.split("/")  # ["", "interaction", id, ("cancel")]
            if len(parts) == 3 and method == "POST":
                return self.login(parts[2], self._form(environ))
            if len(parts) == 4 and parts[3] == "cancel" and method in ("GET", "POST"):
                return self.cancel(parts[2])
        if sub == "/token" and method == "POST":
            return self.token(environ, self._form(environ))
        if sub == "/userinfo" and method in ("GET", "POST"):
            return self.userinfo(environ)
        if sub == "/session/end" and method == "GET":
            return self.end_session(query, _cookie(environ, SESSION_COOKIE))
        return _json("404 Not Found", {"error": "not_found", "error_description": "Adresse inconnue."})

    @staticmethod
    def _form(environ) -> dict:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(min(length, 64 * 1024)) if length else b""
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    # -- endpoints ----------------------------------------------------------------------
    def discovery(self):
        issuer = self.issuer()
        return _json(
            "200 OK",
            {
                "issuer": issuer,
                "authorization_endpoint": issuer + "/authorize",
                "token_endpoint": issuer + "/token",
                "userinfo_endpoint": issuer + "/userinfo",
                "jwks_uri": issuer + "/jwks",
                "end_session_endpoint": issuer + "/session/end",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "scopes_supported": [
                    "openid",
                    "given_name",
                    "family_name",
                    "birthdate",
                    "gender",
                    "birthplace",
                    "birthcountry",
                    "email",
                    "preferred_username",
                ],
                "claims_supported": [
                    "sub",
                    "given_name",
                    "family_name",
                    "birthdate",
                    "gender",
                    "birthplace",
                    "birthcountry",
                    "email",
                    "preferred_username",
                ],
                "acr_values_supported": list(ACR_VALUES),
                "id_token_signing_alg_values_supported": ["RS256"],
                "userinfo_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            },
        )

    def _error_back(self, redirect_uri: str, state: str | None, error: str, description: str):
        params = {"error": error, "error_description": description}
        if state:
            params["state"] = state
        return _redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params))

    def authorize(self, query: dict, session_id: str | None = None):
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        if client_id != self.client_id():
            # Never redirect to an unverified client (RFC 6749 §4.1.2.1).
            return _html(
                "400 Bad Request",
                _page(
                    "Erreur",
                    "<h1>Fournisseur de service inconnu</h1>"
                    f"<p>client_id « {escape(str(client_id))} » non enregistré.</p>",
                ),
            )
        if redirect_uri not in self.redirect_uris():
            return _html(
                "400 Bad Request",
                _page("Erreur", f"<h1>Adresse de retour non enregistrée</h1><p>{escape(str(redirect_uri))}</p>"),
            )
        state = query.get("state")
        if query.get("response_type") != "code":
            return self._error_back(redirect_uri, state, "unsupported_response_type", "response_type=code attendu")
        scopes = set((query.get("scope") or "").split())
        if "openid" not in scopes:
            return self._error_back(redirect_uri, state, "invalid_scope", "le scope openid est obligatoire")
        if not state or not query.get("nonce"):
            return self._error_back(redirect_uri, state, "invalid_request", "state et nonce sont obligatoires")
        acr_values = (query.get("acr_values") or "eidas1").split()
        acr = next((a for a in acr_values if a in ACR_VALUES), None)
        if acr is None:
            return self._error_back(redirect_uri, state, "invalid_request", "acr_values non supporté")
        request = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "nonce": query["nonce"],
            "scopes": scopes,
            "acr": acr,
        }
        hint = query.get("login_hint")
        if hint:
            if hint not in IDENTITIES:
                return _html(
                    "400 Bad Request",
                    _page(
                        "Erreur",
                        "<h1>Identité de test inconnue</h1>"
                        f"<p>login_hint « {escape(hint)} » : identités disponibles "
                        f"{escape(', '.join(IDENTITIES))}.</p>",
                    ),
                )
            return self._issue_code(request, hint, new_session=True)
        with self._lock:
            self._purge()
            session = self._sessions.get(session_id or "")
        if session is not None and "login" not in (query.get("prompt") or "").split():
            return self._issue_code(request, session["identity"])  # single sign-on
        interaction = secrets.token_urlsafe(16)
        with self._lock:
            self._purge()
            self._interactions[interaction] = dict(request, expires_at=time.time() + INTERACTION_TTL)
        return _html("200 OK", self._identity_page(interaction))

    def _identity_page(self, interaction: str) -> str:
        rows = []
        for key, identity in IDENTITIES.items():
            name = f"{identity['given_name']} {identity['family_name']}"
            rows.append(
                f"<li><span><strong>{escape(name)}</strong><br><span class='detail'>née ou né le "
                f"{escape(identity['birthdate'])} · compte {escape(identity['idp'])} · identité « {escape(key)} »"
                f"</span></span><form method='post' action='{PREFIX}/interaction/{interaction}'>"
                f"<input type='hidden' name='identity' value='{escape(key)}'>"
                f"<button type='submit'>Se connecter</button></form></li>"
            )
        return _page(
            "Connexion",
            f"""<h1>Je choisis un compte pour me connecter sur : Aidants Connect</h1>
<p>Choisissez l'identité de test avec laquelle l'usager se connecte.</p>
<ul>{"".join(rows)}</ul>
<p><a href="{PREFIX}/interaction/{interaction}/cancel">← Annuler et revenir sur Aidants Connect</a></p>""",
        )

    def _pop_interaction(self, interaction: str) -> dict | None:
        with self._lock:
            self._purge()
            return self._interactions.pop(interaction, None)

    def login(self, interaction: str, form: dict):
        request = self._pop_interaction(interaction)
        if request is None:
            return _html(
                "400 Bad Request",
                _page("Erreur", "<h1>Cette connexion a expiré</h1><p>Recommencez depuis Aidants Connect.</p>"),
            )
        key = form.get("identity")
        if key not in IDENTITIES:
            return _html("400 Bad Request", _page("Erreur", "<h1>Identité de test inconnue</h1>"))
        return self._issue_code(request, key, new_session=True)

    def cancel(self, interaction: str):
        request = self._pop_interaction(interaction)
        if request is None:
            return _html("400 Bad Request", _page("Erreur", "<h1>Cette connexion a expiré</h1>"))
        return self._error_back(
            request["redirect_uri"], request["state"], "access_denied", "L'usager a annulé la connexion."
        )

    def _issue_code(self, request: dict, identity: str, new_session: bool = False):
        code = secrets.token_urlsafe(32)
        extra = []
        with self._lock:
            self._purge()
            self._codes[code] = dict(
                request, identity=identity, auth_time=int(time.time()), expires_at=time.time() + CODE_TTL
            )
            if new_session:
                session_id = secrets.token_urlsafe(24)
                self._sessions[session_id] = {"identity": identity, "expires_at": time.time() + SESSION_TTL}
                extra.append(_session_cookie(session_id, SESSION_TTL))
        return _redirect(request["redirect_uri"] + "?" + urlencode({"code": code, "state": request["state"]}), extra)

    def _client_authenticated(self, environ, form: dict) -> bool:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        if client_id != self.client_id() or not client_secret:
            return False
        return hmac.compare_digest(client_secret.encode(), secret(CLIENT_SECRET).encode())

    def token(self, environ, form: dict):
        if not self._client_authenticated(environ, form):
            return _json(
                "401 Unauthorized",
                {"error": "invalid_client", "error_description": "client inconnu"},
                [("WWW-Authenticate", 'Basic realm="franceconnect"')],
            )
        if form.get("grant_type") != "authorization_code":
            return _json("400 Bad Request", {"error": "unsupported_grant_type"})
        with self._lock:
            self._purge()
            grant = self._codes.pop(form.get("code") or "", None)  # single use
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return _json("400 Bad Request", {"error": "invalid_grant", "error_description": "code invalide"})
        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = {
                "identity": grant["identity"],
                "scopes": grant["scopes"],
                "client_id": grant["client_id"],
                "expires_at": now + TOKEN_TTL,
            }
        id_token = self._sign(
            {
                "iss": self.issuer(),
                "sub": sub_for(grant["identity"], grant["client_id"]),
                "aud": grant["client_id"],
                "exp": now + TOKEN_TTL,
                "iat": now,
                "auth_time": grant["auth_time"],
                "nonce": grant["nonce"],
                "acr": grant["acr"],
                "amr": ["pwd"],
                "idp": IDENTITIES[grant["identity"]]["idp"],
            }
        )
        return _json(
            "200 OK",
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL,
                "id_token": id_token,
                "scope": " ".join(sorted(grant["scopes"])),
            },
        )

    def userinfo(self, environ):
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        with self._lock:
            self._purge()
            grant = self._tokens.get(token)
        if grant is None:
            return _json(
                "401 Unauthorized", {"error": "invalid_token"}, [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            )
        now = int(time.time())
        claims = claims_for(grant["identity"], grant["scopes"])
        claims.update(
            {
                "sub": sub_for(grant["identity"], grant["client_id"]),
                "iss": self.issuer(),
                "aud": grant["client_id"],
                "iat": now,
                "exp": now + TOKEN_TTL,
            }
        )
        body = self._sign(claims).encode()
        return "200 OK", [("Content-Type", "application/jwt"), ("Cache-Control", "no-store")], body

    def end_session(self, query: dict, session_id: str | None = None):
        """RP-initiated logout: the browser's session ends; the redirect back needs an
        ID token we issued to the client, and a registered address."""
        with self._lock:
            self._sessions.pop(session_id or "", None)
        cleared = [_session_cookie("", 0)]
        target = query.get("post_logout_redirect_uri")
        if target:
            try:
                claims = jwt.decode(query.get("id_token_hint") or "", self.key()).claims
            except Exception:  # noqa: BLE001 - any undecodable hint is refused the same way
                claims = {}
            if claims.get("aud") != self.client_id() or target not in self.post_logout_redirect_uris():
                return _html(
                    "400 Bad Request",
                    _page("Erreur", "<h1>Déconnexion refusée</h1><p>id_token_hint ou adresse de retour invalide.</p>"),
                )
            params = {"state": query["state"]} if query.get("state") else {}
            return _redirect(target + (("?" + urlencode(params)) if params else ""), cleared)
        status, headers, body = _html("200 OK", _page("Déconnexion", "<h1>Vous êtes déconnecté de FranceConnect.</h1>"))
        return status, headers + cleared, body


def make_app() -> StandIn:
    return StandIn()
