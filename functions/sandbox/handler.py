"""sandbox: the training sandbox's own routes (shared/sandbox/). Deployed only with
the sandbox profile; outside it, every route answers 404, as if it did not exist."""

from shared import errors, sessions
from shared.config import settings
from shared.http import Response, Router, json_response
from shared.sandbox import inbox, trainees

router = Router()


def _sandbox_only() -> None:
    if not settings().sandbox:
        raise errors.NotFound("Cette adresse n'existe pas.")


@router.route("GET", "/api/sandbox")
def describe(request):
    _sandbox_only()
    return json_response(trainees.public())


@router.route("POST", "/api/sandbox/trainees")
def sign_up(request):
    _sandbox_only()
    return json_response(trainees.sign_up(request.json()), 201)


@router.route("GET", "/api/sandbox/trainee")
def account(request):
    _sandbox_only()
    return json_response(trainees.account(sessions.authenticate(request)))


@router.route("POST", "/api/sandbox/trainee/reset")
def reset(request):
    _sandbox_only()
    caller = sessions.authenticate(request)
    response = Response(status=200)
    response.body = trainees.reset(caller, response)
    return response


@router.route("GET", "/api/sandbox/inbox")
def read_inbox(request):
    _sandbox_only()
    caller = sessions.authenticate(request)
    return json_response({"messages": inbox.messages_of(caller.structure_id)})


def handle(event, context):
    return router.dispatch(event, context)
