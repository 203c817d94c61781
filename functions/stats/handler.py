"""stats: the public figures, and the scheduled run that counts expired mandates.

GET /api/stats             public, no session: the figures (shared.stats.figures)
POST {"run": "scheduled"}  or an empty body: the cron-connector (stack.yml schedule),
                           expired mandates out of "in force" (shared.stats.expiry).
                           Not a public route: only the gateway reaches it.
"""

from shared import stats
from shared.http import Router, json_response, require_scheduled_run

router = Router()


@router.route("GET", "/api/stats")
def figures(request):
    return json_response(stats.figures())


@router.route("POST", "/")
def expiry_run(request):
    require_scheduled_run(request.internal_json())
    return json_response(stats.run_scheduled())


def handle(event, context):
    return router.dispatch(event, context)
