"""notify: delivers outbox e-mails (async, one item) and runs the schedule.

POST {"item": id}          from /async-function/notify after a change was committed
POST {"run": "scheduled"}  or an empty body: the cron-connector (stack.yml schedule)
Not a public route: only the gateway reaches it.
"""

from shared import errors, notifications
from shared.http import Router, json_response, require_scheduled_run

router = Router()


@router.route("POST", "/")
def notify(request):
    data = request.internal_json()
    item_id = data.get("item")
    if item_id is not None:
        if not isinstance(item_id, str) or not 0 < len(item_id) <= 64:
            raise errors.BadRequest("« item » doit être l'identifiant d'un message.")
        return json_response({"item": item_id, "outcome": notifications.deliver(item_id)})
    require_scheduled_run(data)
    return json_response(notifications.run_scheduled())


def handle(event, context):
    return router.dispatch(event, context)
