"""habilitation: a structure's accreditation request (public, reached by the link
e-mailed at creation) and the staff's side: decisions, messages, OTP card import,
training marks."""

from shared import cards, errors, habilitation, sessions
from shared import error_codes as codes
from shared.http import Router, json_response

router = Router()
REQUEST = "/api/habilitation/requests/{request}"
STAFF_REQUEST = "/api/staff/habilitation/requests/{request}"


def _as_requester(request):
    token = habilitation.bearer_token(request.headers.get("authorization"))
    return habilitation.as_requester(request.params["request"], token)


def _staff(request):
    caller = sessions.authenticate(request)
    habilitation.require_staff(caller)
    return caller


@router.route("POST", "/api/habilitation/requests")
def create(request):
    return json_response(habilitation.create(habilitation.parse_form(request.json())), 201)


@router.route("GET", REQUEST)
def show(request):
    req, messages = _as_requester(request)
    return json_response(habilitation.request_view(req, messages, for_staff=False))


@router.route("PUT", REQUEST)
def update(request):
    req, _ = _as_requester(request)
    habilitation.update(req, habilitation.parse_form(request.json()))
    return json_response(habilitation.request_view(*_as_requester(request), for_staff=False))


@router.route("POST", REQUEST + "/submit")
def submit(request):
    req, _ = _as_requester(request)
    habilitation.submit(req)
    return json_response(habilitation.request_view(*_as_requester(request), for_staff=False))


@router.route("POST", REQUEST + "/messages")
def requester_message(request):
    req, _ = _as_requester(request)
    text = habilitation.message_text(request.json())
    name = f"{req.referent.first_name} {req.referent.last_name}"
    habilitation.post_message(req, "requester", name, text)
    return json_response(habilitation.request_view(*_as_requester(request), for_staff=False), 201)


@router.route("GET", "/api/staff/habilitation/requests")
def staff_queue(request):
    _staff(request)
    return json_response({"requests": habilitation.queue(request.query.get("status") or None)})


@router.route("GET", STAFF_REQUEST)
def staff_show(request):
    _staff(request)
    return json_response(habilitation.staff_view(request.params["request"]))


@router.route("POST", STAFF_REQUEST + "/decision")
def staff_decision(request):
    caller = _staff(request)
    data = request.json()
    text = habilitation.message_text(data, required=False)
    return json_response(habilitation.decide(caller, request.params["request"], data.get("decision"), text))


@router.route("POST", STAFF_REQUEST + "/messages")
def staff_message(request):
    caller = _staff(request)
    text = habilitation.message_text(request.json())
    req, _ = habilitation.load(request.params["request"])
    habilitation.post_message(
        req, "staff", f"{caller.aidant.first_name} (équipe Aidants Connect)", text, actor_id=caller.aidant_id
    )
    return json_response(habilitation.staff_view(request.params["request"]), 201)


@router.route("POST", "/api/staff/cards")
def import_cards(request):
    caller = _staff(request)
    data = request.json()
    rows = data.get("cards")
    if isinstance(data.get("csv"), str):
        rows = cards.parse_csv(data["csv"])
    if not isinstance(rows, list):
        raise errors.BadRequest("Envoyez « cards » (liste de {serial, seed}) ou « csv ».", code=codes.INVALID_FILE)
    structure_id = data.get("structure_id")
    if structure_id is not None and (not isinstance(structure_id, str) or not 0 < len(structure_id) <= 64):
        raise errors.BadRequest("« structure_id » n'est pas valide.", code=codes.INVALID_FIELD)
    result = cards.import_cards(
        rows, encoding=data.get("seed_encoding", "hex"), structure_id=structure_id, actor_id=caller.aidant_id
    )
    return json_response(result.as_dict(), 201 if result.imported else 200)


@router.route("GET", "/api/staff/cards")
def stock(request):
    _staff(request)
    lost = request.query.get("status") == "lost"
    return json_response({"cards": [cards.card_view(c) for c in cards.in_stock(lost=lost)]})


@router.route("POST", "/api/staff/aidants/{aidant}/training")
def training(request):
    caller = _staff(request)
    trained_on, pix = habilitation.parse_training(request.json())
    return json_response(habilitation.mark_trained(caller, request.params["aidant"], trained_on, pix))


def handle(event, context):
    return router.dispatch(event, context)
