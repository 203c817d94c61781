"""oidc_userinfo: the usager's identity, to the bearer of an access token."""

from shared.http import Router
from shared.oidc import endpoints

router = Router()
router.route("GET,POST", "/oidc/userinfo")(endpoints.userinfo)


def handle(event, context):
    return router.dispatch(event, context)
