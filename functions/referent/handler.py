"""referent: the Espace Responsable (structures, aidants, OTP cards and apps,
invitations) and an aidant's structures (accepting an invitation, switching)."""

from shared import invitations, referent, sessions
from shared.http import Router, json_response

router = Router()
AIDANT = "/api/referent/structures/{structure}/aidants/{aidant}"


def _target(request):
    caller = sessions.authenticate(request)
    return referent.managed_aidant(caller, request.params["structure"], request.params["aidant"])


@router.route("GET", "/api/referent/structures")
def structures(request):
    return json_response(referent.my_structures(sessions.authenticate(request)))


@router.route("GET", "/api/referent/structures/{structure}")
def structure(request):
    return json_response(referent.structure_detail(sessions.authenticate(request), request.params["structure"]))


@router.route("POST", AIDANT + "/activate")
def activate(request):
    return json_response(referent.activate(_target(request)))


@router.route("POST", AIDANT + "/deactivate")
def deactivate(request):
    return json_response(referent.deactivate(_target(request)))


@router.route("POST", AIDANT + "/card")
def link_card(request):
    target = _target(request)
    return json_response(referent.link_card(target, request.json().get("serial")), 201)


@router.route("POST", AIDANT + "/card/validate")
def validate_card(request):
    target = _target(request)
    return json_response(referent.validate_card(target, request.json().get("otp")))


@router.route("POST", AIDANT + "/card/unlink")
def unlink_card(request):
    target = _target(request)
    data = request.json()
    return json_response(referent.unlink_card(target, lost=data.get("lost") is True))


@router.route("POST", AIDANT + "/app")
def start_app(request):
    return json_response(referent.start_app(_target(request)), 201)


@router.route("POST", AIDANT + "/app/confirm")
def confirm_app(request):
    target = _target(request)
    return json_response(referent.confirm_app(target, request.json().get("otp")))


@router.route("POST", AIDANT + "/app/unlink")
def unlink_app(request):
    return json_response(referent.unlink_app(_target(request)))


@router.route("POST", "/api/referent/structures/{structure}/invitations")
def invite(request):
    caller = sessions.authenticate(request)
    structure = referent.managed_structure(caller, request.params["structure"])
    invitation = invitations.invite(caller, structure, request.json())
    return json_response({"invitation": invitation.id}, 201)


@router.route("GET", "/api/referent/structures/{structure}/invitations")
def pending_invitations(request):
    caller = sessions.authenticate(request)
    return json_response(invitations.of_structure(referent.managed_structure(caller, request.params["structure"])))


@router.route("POST", "/api/referent/structures/{structure}/invitations/{invitation}/withdraw")
def withdraw_invitation(request):
    caller = sessions.authenticate(request)
    structure = referent.managed_structure(caller, request.params["structure"])
    return json_response(invitations.withdraw(caller, structure, request.params["invitation"]))


@router.route("POST", "/api/invitations/{invitation}/accept")
def accept_invitation(request):
    caller = sessions.authenticate(request)
    return json_response(invitations.accept(caller, request.params["invitation"], request.json().get("otp")))


@router.route("POST", "/api/session/structure")
def switch_structure(request):
    caller = sessions.authenticate(request)
    data = request.json()
    # "structure" is the contract's name (openapi.yaml); "structure_id" was the first one.
    answer, session, token = referent.switch_structure(caller, data.get("structure", data.get("structure_id")))
    response = json_response(answer)
    sessions.set_cookie(response, token, session)
    return response


def handle(event, context):
    return router.dispatch(event, context)
