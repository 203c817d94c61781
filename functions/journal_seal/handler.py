"""journal-seal: seals the closed windows of the journal (shared.seals).

POST {"run": "scheduled"} or an empty body: the cron-connector (stack.yml schedule).
Not a public route: only the gateway reaches it.
"""

import json

from shared import errors, seals
from shared.http import Router, json_response

router = Router()


@router.route("POST", "/")
def seal(request):
    # The cron-connector posts an empty body with no Content-Type.
    data = {}
    if request.body.strip():
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise errors.BadRequest("Le corps de la requête n'est pas un JSON valide.") from err
        if not isinstance(data, dict):
            raise errors.BadRequest("Le corps de la requête doit être un objet JSON.")
    if data.get("run", "scheduled") != "scheduled":
        raise errors.BadRequest("« run » ne peut valoir que « scheduled ».")
    return json_response(seals.run_scheduled())


def handle(event, context):
    return router.dispatch(event, context)
