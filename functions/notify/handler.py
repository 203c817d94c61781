"""notify: delivers outbox e-mails (async, one item) and runs the schedule.

POST {"item": id}          from /async-function/notify after a change was committed
POST {"run": "scheduled"}  or an empty body: the cron-connector (stack.yml schedule)
Not a public route: only the gateway reaches it.
"""

import json

from shared import errors, notifications
from shared.http import Router, json_response

router = Router()


def _body(request) -> dict:
    # The cron-connector posts an empty body with no Content-Type.
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise errors.BadRequest("Le corps de la requête n'est pas un JSON valide.") from err
    if not isinstance(data, dict):
        raise errors.BadRequest("Le corps de la requête doit être un objet JSON.")
    return data


@router.route("POST", "/")
def notify(request):
    data = _body(request)
    item_id = data.get("item")
    if item_id is not None:
        if not isinstance(item_id, str) or not 0 < len(item_id) <= 64:
            raise errors.BadRequest("« item » doit être l'identifiant d'un message.")
        return json_response({"item": item_id, "outcome": notifications.deliver(item_id)})
    if data.get("run", "scheduled") != "scheduled":
        raise errors.BadRequest("« run » ne peut valoir que « scheduled ».")
    return json_response(notifications.run_scheduled())


def handle(event, context):
    return router.dispatch(event, context)
