"""mandate_create: draft, FranceConnect identification of the usager, signature."""

from shared import drafts, sessions
from shared.http import Router, html_response, json_response, redirect

router = Router()


# Creating and signing need the terms of use accepted (acting=True, shared.cgu);
# reading a draft and its preview do not.
@router.route("POST", "/api/mandates/drafts")
def create_draft(request):
    caller = sessions.authenticate(request, acting=True)
    draft = drafts.create(caller, request.json())
    return json_response({"draft": draft.id, "franceconnect_url": drafts.start_identification(draft)}, 201)


@router.route("GET", "/api/mandates/drafts/{draft}")
def show_draft(request):
    caller = sessions.authenticate(request)
    return json_response(drafts.recap(caller, drafts.load(caller, request.params["draft"])))


@router.route("GET", "/api/mandates/drafts/{draft}/print")
def print_draft(request):
    caller = sessions.authenticate(request)
    return html_response(drafts.printable(caller, drafts.load(caller, request.params["draft"])))


@router.route("POST", "/api/mandates/drafts/{draft}/franceconnect")
def restart_identification(request):
    """A new FranceConnect login for an existing draft (after a cancel or an error)."""
    caller = sessions.authenticate(request, acting=True)
    draft = drafts.load(caller, request.params["draft"])
    return json_response({"draft": draft.id, "franceconnect_url": drafts.start_identification(draft)})


@router.route("GET", "/fc/callback")
def franceconnect_callback(request):
    outcome = drafts.identify(request.query, lambda: sessions.authenticate(request))
    return redirect(outcome.location())


@router.route("POST", "/api/mandates")
def sign(request):
    caller = sessions.authenticate(request, acting=True)
    mandate = drafts.sign(caller, request.json())
    return json_response({"mandate": mandate.id}, 201)


def handle(event, context):
    return router.dispatch(event, context)
