"""sandbox-franceconnect: the FranceConnect stand-in of the training sandbox (the
same code ``make up`` runs inside its local gateway, ``local/franceconnect``), as a
function of the sandbox stack: the sandbox never calls real FranceConnect. Its
state (codes, tokens, single sign-on sessions) lives in memory, so the stack runs
one replica of it. Outside the sandbox profile it answers 404."""

from local.franceconnect import PREFIX, make_app
from shared import wsgi
from shared.http import Router

router = Router()
router.prefix(PREFIX, wsgi.handler_for(make_app()))


def handle(event, context):
    return router.dispatch(event, context)
