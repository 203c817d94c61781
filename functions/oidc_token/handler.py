"""oidc_token: the token endpoint (FranceConnect's back channel)."""

from shared.http import Router
from shared.oidc import endpoints

router = Router()
router.route("POST", "/oidc/token")(endpoints.token)


def handle(event, context):
    return router.dispatch(event, context)
