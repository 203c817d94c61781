"""otp_verify: aidant login (e-mail + TOTP, e-mailed link), session, logout, what the
aidant sees of themselves (structures, invitations, terms of use)."""

from shared import accounts, cgu, emails, errors, invitations, login, sessions
from shared.http import Response, Router, json_response, redirect, require_str

router = Router()


@router.route("POST", "/api/login")
def start_login(request):
    data = request.json()
    email = emails.normalize(data.get("email"), field="email", label="adresse e-mail")
    code = require_str(data, "otp", max_len=16, message="Merci d'indiquer le code à 6 chiffres.")
    response = Response(status=200)
    started = login.start(email, code, response, next_path=login.safe_next_path(data.get("next")))
    response.body = {"link_sent": started.link_sent, "session_opened": started.session_opened}
    return response


@router.route("GET", "/api/login/{token}")
def open_from_link(request):
    response = Response()
    wants_page = "text/html" in (request.headers.get("accept") or "")
    try:
        target = login.consume_link(request.params["token"], response)
    except (errors.Gone, errors.Forbidden) as err:
        if not wants_page:
            raise
        return redirect(f"/connexion/?erreur={err.code}")
    response.status = 302
    response.headers.append(("Location", target))
    return response


@router.route("POST", "/api/logout")
def logout(request):
    response = json_response({"logged_out": True})
    sessions.end_session(request, response)
    return response


@router.route("GET", "/api/me")
def me(request):
    caller = sessions.authenticate(request)
    return json_response(accounts.describe_caller(caller) | {"invitations": invitations.pending_for(caller.aidant)})


@router.route("POST", "/api/me/cgu")
def accept_cgu(request):
    caller = sessions.authenticate(request)
    return json_response({"cgu": cgu.accept(caller.aidant, request.json().get("version"), caller.structure_id)})


def handle(event, context):
    return router.dispatch(event, context)
