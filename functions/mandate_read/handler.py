"""mandate_read: the structure's mandates and usagers, one mandate, printable pages,
and the démarches catalogue the front-end shows."""

from shared import documents, errors, listings, mandates, sessions
from shared.http import Router, html_response, json_response

router = Router()


@router.route("GET", "/api/mandates")
def list_mandates(request):
    caller = sessions.authenticate(request)
    page = listings.mandates_of_structure(
        caller.structure_id,
        usager_id=request.query.get("usager") or None,
        status=listings.parse_status(request.query.get("status")),
        limit=listings.parse_limit(request.query.get("limit")),
        cursor=request.query.get("cursor") or None,
    )
    return json_response({"mandates": [mandates.mandate_json(m) for m in page.items], "next_cursor": page.cursor})


@router.route("GET", "/api/mandates/{id}")
def show_mandate(request):
    caller = sessions.authenticate(request)
    return json_response(listings.mandate_detail(caller.structure_id, request.params["id"]))


@router.route("GET", "/api/mandates/{id}/print")
def print_mandate(request):
    caller = sessions.authenticate(request)
    return html_response(documents.printable_mandate(caller.structure_id, request.params["id"]))


@router.route("GET", "/api/mandates/{id}/revocation/print")
def print_revocation(request):
    caller = sessions.authenticate(request)
    return html_response(documents.printable_revocation(caller.structure_id, request.params["id"]))


@router.route("GET", "/api/usagers")
def list_usagers(request):
    caller = sessions.authenticate(request)
    return json_response(
        listings.usagers_of_structure(
            caller.structure_id,
            query=request.query.get("q") or None,
            cursor=request.query.get("cursor") or None,
            limit=listings.parse_limit(request.query.get("limit"), default=listings.MAX_LIMIT),
        )
    )


@router.route("GET", "/api/demarches")
def list_demarches(request):
    try:
        caller = sessions.authenticate(request)
    except errors.Unauthorized:
        caller = None
    return json_response(documents.demarches_catalogue(caller.structure_id if caller else None))


def handle(event, context):
    return router.dispatch(event, context)
