"""sandbox-demo: the demo government site of the training sandbox, which plays
FranceConnect as a client of the sandbox's identity provider (the same code
``make up`` runs inside its local gateway, ``local/fi_demo``): trainees use their
mandates there. Pending logins live in memory, so the stack runs one replica of it.
Outside the sandbox profile it answers 404."""

from local.fi_demo import PREFIX, make_app
from shared import wsgi
from shared.http import Router

router = Router()
router.prefix(PREFIX, wsgi.handler_for(make_app()))


def handle(event, context):
    return router.dispatch(event, context)
