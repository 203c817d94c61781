"""Checks of an authentication request (OpenID Connect Core §3.1.2.1-2, RFC 6749
§4.1.1, RFC 7636 §4.3), one small named function each, in the order they run.

Until the client and its redirect URI are known, an error is shown here and never
redirected: redirecting to an unchecked URI would make us an open redirector
(RFC 6749 §4.1.2.1). From then on, errors go back to the client with ``error`` and
``state``. Authlib runs the protocol's own checks between the two lists
(response_type, scopes it knows, nonce, PKCE syntax, prompt); the checks here add
what FranceConnect's identity providers must require.
"""
from __future__ import annotations

from authlib.oauth2.rfc6749.errors import (InvalidClientError, InvalidRequestError, InvalidScopeError,
                                           OAuth2Error)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from ..http import Request
from . import claims, clients
from .errors import fr

MAX_STATE = MAX_NONCE = 512
MAX_LOGIN_HINT = 256
_SINGLE = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
           "code_challenge_method", "acr_values", "prompt", "login_hint", "max_age")
MAX_MAX_AGE_DIGITS = 9


def _before_redirect(error_cls, text: str) -> OAuth2Error:
    """An error that is never redirected; ``human`` is what the person whose browser
    FranceConnect sent here reads (with its accents)."""
    error = error_cls(fr(text))
    error.human = text
    return error


# -- before the redirect URI is trusted -------------------------------------------------

def check_parameters_not_repeated(request: Request) -> None:
    """RFC 6749 §3.1: parameters MUST NOT be included more than once."""
    repeated = sorted(set(_SINGLE) & request.repeated_query)
    if repeated:
        raise _before_redirect(InvalidRequestError, f"Paramètre répété : {repeated[0]}.")


def check_client(request: Request) -> clients.Client:
    client_id = request.query.get("client_id")
    if not client_id:
        raise _before_redirect(InvalidRequestError, "Paramètre client_id manquant.")
    client = clients.find(client_id)
    if client is None:
        raise _before_redirect(InvalidClientError, "Ce service n'est pas enregistré auprès d'Aidants Connect.")
    return client


def check_redirect_uri(request: Request, client: clients.Client) -> str:
    """Exact match with a registered URI; required (OpenID Connect Core §3.1.2.1)."""
    redirect_uri = request.query.get("redirect_uri")
    if not redirect_uri:
        raise _before_redirect(InvalidRequestError, "Paramètre redirect_uri manquant.")
    if not client.check_redirect_uri(redirect_uri):
        raise _before_redirect(InvalidRequestError,
                               "L'adresse de retour (redirect_uri) n'est pas enregistrée pour ce service.")
    return redirect_uri


def check_before_redirect(request: Request) -> clients.Client:
    check_parameters_not_repeated(request)
    client = check_client(request)
    check_redirect_uri(request, client)
    return client


# -- once it is: errors are redirected with error and state --------------------------------

def check_scope_has_openid(data: dict) -> None:
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
        raise InvalidRequestError(fr(f"Niveau d'authentification non pris en charge : seul {claims.ACR} "
                                     "est proposé."))


def check_pkce_is_s256(data: dict) -> None:
    """PKCE is optional; when used, S256 only and stated (RFC 7636 §4.3 would
    otherwise default to ``plain``)."""
    if (data.get("code_challenge") or data.get("code_challenge_method")) \
            and data.get("code_challenge_method") != "S256":
        raise InvalidRequestError(fr("Seule la méthode PKCE S256 est acceptée."))


def check_login_hint(data: dict) -> None:
    if len(data.get("login_hint") or "") > MAX_LOGIN_HINT:
        raise InvalidRequestError(fr("Paramètre login_hint trop long."))


def check_max_age(data: dict) -> None:
    """A number of seconds (OpenID Connect Core §3.1.2.1); honoured when the aidant
    chooses (``transactions.choose``)."""
    value = data.get("max_age") or None  # sent empty is omitted (RFC 6749 §3.1)
    if value is not None and not (str(value).isascii() and str(value).isdigit()
                                  and len(str(value)) <= MAX_MAX_AGE_DIGITS):
        raise InvalidRequestError(fr("Paramètre max_age invalide : un nombre de secondes est attendu."))


def check_no_request_object(data: dict) -> None:
    """Request objects are not supported: say so (OpenID Connect Core §6) rather than
    silently answer a request whose real parameters were inside them."""
    if data.get("request"):
        raise RequestNotSupportedError(fr("Les objets de requête (request) ne sont pas pris en charge."))
    if data.get("request_uri"):
        raise RequestURINotSupportedError(fr("Le paramètre request_uri n'est pas pris en charge."))


def check_response_mode(data: dict) -> None:
    """The code always comes back in the query (RFC 6749 §4.1.2); a client asking for
    another mode would not find it."""
    if data.get("response_mode") not in (None, "", "query"):
        raise InvalidRequestError(fr("Seul response_mode=query est pris en charge."))


AFTER_REDIRECT = (check_scope_has_openid, check_state, check_nonce, check_acr_values, check_pkce_is_s256,
                  check_login_hint, check_max_age, check_no_request_object, check_response_mode)


class FranceConnectRequirements:
    """Runs :data:`AFTER_REDIRECT` inside Authlib's validation, where an error is
    sent back to the (now trusted) redirect URI."""

    def __call__(self, grant) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.run)

    @staticmethod
    def run(grant, _result) -> None:
        data = grant.request.payload.data
        for check in AFTER_REDIRECT:
            check(data)
