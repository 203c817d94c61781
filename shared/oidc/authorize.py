"""Checks of an authentication request (OpenID Connect Core §3.1.2.1-2, RFC 6749
§4.1.1, RFC 7636 §4.3), one small named function each, in the order they run.

Until the client and its redirect URI are known, an error is shown here and never
redirected: redirecting to an unchecked URI would make us an open redirector
(RFC 6749 §4.1.2.1). From then on, errors go back to the client with ``error``,
``state`` and ``iss``.

Every check of ours runs here, in a fixed order, before Authlib sees the request:
Authlib keeps the hooks of a grant in a set, so when two of its checks (and ours,
if they were hooks) could fail, which error answered would vary from one process
to the next. Authlib's own checks then find nothing more to refuse (its hooks run
in registration order too, ``grants.OrderedHooks``).

The parameters come from the query (GET) or the form body (POST, OpenID Connect
Core §3.1.2.1 "Form Serialization"), never from both.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core.errors import (
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)

from .. import errors as api_errors
from ..config import settings
from ..http import FORM_TYPE, Request
from . import claims, clients
from .errors import fr

MAX_STATE = MAX_NONCE = 512
MAX_LOGIN_HINT = 256
_SINGLE = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
    "prompt",
    "login_hint",
    "max_age",
    "request",
    "request_uri",
    "response_mode",
)
MAX_MAX_AGE_DIGITS = 9


def _before_redirect(error_cls, text: str) -> OAuth2Error:
    """An error that is never redirected; ``human`` is what the person whose browser
    FranceConnect sent here reads (with its accents)."""
    error = error_cls(fr(text))
    error.human = text
    return error


def read_parameters(request: Request) -> tuple[dict[str, str], set[str]]:
    """The request's parameters and the names given more than once: the query of a
    GET, the form body of a POST (the query of a POST is not read: one place only)."""
    if request.method != "POST":
        return request.query, request.repeated_query
    if len(request.body) > settings().max_body_bytes:
        raise api_errors.PayloadTooLarge()
    if request.body and request.content_type() != FORM_TYPE:
        raise api_errors.UnsupportedMediaType(
            "Le corps de la requête doit être encodé en application/x-www-form-urlencoded."
        )
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as err:
        raise api_errors.BadRequest("Le corps de la requête n'est pas de l'UTF-8 valide.") from err
    names = [name for name, _ in pairs]
    return dict(pairs), {name for name in names if names.count(name) > 1}


# -- before the redirect URI is trusted -------------------------------------------------


def check_parameters_not_repeated(repeated: set[str]) -> None:
    """RFC 6749 §3.1: parameters MUST NOT be included more than once."""
    single = sorted(set(_SINGLE) & repeated)
    if single:
        raise _before_redirect(InvalidRequestError, f"Paramètre répété : {single[0]}.")


def check_client(params: dict) -> clients.Client:
    client_id = params.get("client_id")
    if not client_id:
        raise _before_redirect(InvalidRequestError, "Paramètre client_id manquant.")
    client = clients.find(client_id)
    if client is None:
        raise _before_redirect(InvalidClientError, "Ce service n'est pas enregistré auprès d'Aidants Connect.")
    return client


def check_redirect_uri(params: dict, client: clients.Client) -> str:
    """Exact match with a registered URI; required (OpenID Connect Core §3.1.2.1)."""
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise _before_redirect(InvalidRequestError, "Paramètre redirect_uri manquant.")
    if not client.check_redirect_uri(redirect_uri):
        raise _before_redirect(
            InvalidRequestError, "L'adresse de retour (redirect_uri) n'est pas enregistrée pour ce service."
        )
    return redirect_uri


def check_before_redirect(params: dict, repeated: set[str]) -> tuple[clients.Client, str]:
    check_parameters_not_repeated(repeated)
    client = check_client(params)
    return client, check_redirect_uri(params, client)


# -- once it is: errors are redirected with error, state and iss ---------------------------


def check_no_request_object(data: dict) -> None:
    """Request objects are not supported: say so (OpenID Connect Core §6.1, §6.2)
    rather than silently answer a request whose real parameters were inside them.
    First of all: the other parameters (state, nonce…) may be inside the object, so
    their absence from the query says nothing yet."""
    if data.get("request"):
        raise RequestNotSupportedError(fr("Les objets de requête (request) ne sont pas pris en charge."))
    if data.get("request_uri"):
        raise RequestURINotSupportedError(fr("Le paramètre request_uri n'est pas pris en charge."))


def check_response_type(data: dict) -> None:
    """RFC 6749 §4.1.2.1: missing is ``invalid_request``, another value
    ``unsupported_response_type`` (the code flow only)."""
    response_type = data.get("response_type")
    if not response_type:
        raise InvalidRequestError(fr("Paramètre response_type manquant."))
    if response_type != "code":
        raise UnsupportedResponseTypeError(response_type, fr("Seul response_type=code est pris en charge."))


def check_scope_has_openid(data: dict) -> None:
    """Other scopes we do not know are ignored (OpenID Connect Core §5.4; the client's
    ``get_allowed_scope`` drops them), but without ``openid`` this is not OpenID Connect."""
    if "openid" not in (scope_to_list(data.get("scope")) or []):
        raise InvalidScopeError(fr("Le scope doit contenir « openid »."))


def check_state(data: dict) -> None:
    # Required by FranceConnect: it is the client's CSRF protection (RFC 6749 §10.12).
    state = data.get("state")
    if not state:
        raise InvalidRequestError(fr("Paramètre state manquant."))
    if len(state) > MAX_STATE:
        raise InvalidRequestError(fr("Paramètre state trop long."))


def check_nonce(data: dict) -> None:
    # Required by FranceConnect's profile, although Core §3.1.2.1 makes it optional
    # in the code flow: it binds the ID token to the client's session.
    nonce = data.get("nonce")
    if not nonce:
        raise InvalidRequestError(fr("Paramètre nonce manquant."))
    if len(nonce) > MAX_NONCE:
        raise InvalidRequestError(fr("Paramètre nonce trop long."))


def check_acr_values(data: dict) -> None:
    """We assert eIDAS low (``eidas1``); a request that only accepts higher levels
    cannot be satisfied here."""
    requested = data.get("acr_values")
    if requested and claims.ACR not in requested.split():
        raise InvalidRequestError(fr(f"Niveau d'authentification non pris en charge : seul {claims.ACR} est proposé."))


def check_pkce_is_s256(data: dict) -> None:
    """PKCE is optional; when used, S256 only and stated (RFC 7636 §4.3 would
    otherwise default to ``plain``)."""
    if (data.get("code_challenge") or data.get("code_challenge_method")) and data.get(
        "code_challenge_method"
    ) != "S256":
        raise InvalidRequestError(fr("Seule la méthode PKCE S256 est acceptée."))


def check_login_hint(data: dict) -> None:
    if len(data.get("login_hint") or "") > MAX_LOGIN_HINT:
        raise InvalidRequestError(fr("Paramètre login_hint trop long."))


def check_max_age(data: dict) -> None:
    """A number of seconds (OpenID Connect Core §3.1.2.1); honoured when the aidant
    chooses (``transactions.choose``)."""
    value = data.get("max_age") or None  # sent empty is omitted (RFC 6749 §3.1)
    if value is not None and not (
        str(value).isascii() and str(value).isdigit() and len(str(value)) <= MAX_MAX_AGE_DIGITS
    ):
        raise InvalidRequestError(fr("Paramètre max_age invalide : un nombre de secondes est attendu."))


def check_response_mode(data: dict) -> None:
    """The code always comes back in the query (RFC 6749 §4.1.2); a client asking for
    another mode would not find it."""
    if data.get("response_mode") not in (None, "", "query"):
        raise InvalidRequestError(fr("Seul response_mode=query est pris en charge."))


def check_prompt(data: dict, aidant_logged_in: Callable[[], bool]) -> None:
    """OpenID Connect Core §3.1.2.1 and §3.1.2.6. ``prompt=none`` asks for an answer
    without showing anything, which we can never give: the aidant always picks the
    usager and the démarche. With an aidant logged in in this browser that is
    ``interaction_required``; with nobody, ``login_required``. Only then is the
    session read (one read, nothing written). ``none`` with another value is
    invalid. Last: only an otherwise valid request learns this."""
    prompts = (data.get("prompt") or "").split()
    if "none" not in prompts:
        return
    if len(prompts) > 1:
        raise InvalidRequestError(fr("prompt=none ne se combine avec aucune autre valeur."))
    if aidant_logged_in():
        raise InteractionRequiredError(
            fr("L'aidant doit choisir l'usager et la démarche : une connexion sans interaction est impossible.")
        )
    raise LoginRequiredError(fr("Aucun aidant n'est connecté dans ce navigateur."))


AFTER_REDIRECT = (
    check_no_request_object,
    check_response_type,
    check_scope_has_openid,
    check_state,
    check_nonce,
    check_acr_values,
    check_pkce_is_s256,
    check_login_hint,
    check_max_age,
    check_response_mode,
)


def check_after_redirect(data: dict, redirect_uri: str, aidant_logged_in: Callable[[], bool]) -> None:
    """:data:`AFTER_REDIRECT`, then the prompt; the first failure goes back to the
    client, with the ``state`` of the request when it has one (RFC 6749 §4.1.2.1)."""
    try:
        for check in AFTER_REDIRECT:
            check(data)
        check_prompt(data, aidant_logged_in)
    except OAuth2Error as error:
        error.redirect_uri = redirect_uri
        error.state = data.get("state") or None
        raise
