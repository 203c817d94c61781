"""journal-seal: seals the closed windows of the journal (shared.seals).

POST {"run": "scheduled"} or an empty body: the cron-connector (stack.yml schedule).
Not a public route: only the gateway reaches it.
"""

from shared import seals
from shared.http import Router, json_response, require_scheduled_run

router = Router()


@router.route("POST", "/")
def seal(request):
    require_scheduled_run(request.internal_json())
    return json_response(seals.run_scheduled())


def handle(event, context):
    return router.dispatch(event, context)
