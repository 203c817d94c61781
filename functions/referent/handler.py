"""referent: the Espace Responsable (structures, aidants, OTP cards and apps) and an
aidant's switch between their structures."""
from shared import referent, sessions
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


@router.route("POST", "/api/session/structure")
def switch_structure(request):
    caller = sessions.authenticate(request)
    answer, session, token = referent.switch_structure(caller, request.json().get("structure_id"))
    response = json_response(answer)
    sessions.set_cookie(response, token, session)
    return response


def handle(event, context):
    return router.dispatch(event, context)
