"""oidc_metadata: OpenID Connect discovery and the public signing keys."""
from shared.http import Router
from shared.oidc import endpoints

router = Router()
router.route("GET", "/.well-known/openid-configuration")(endpoints.discovery)
router.route("GET", "/oidc/jwks")(endpoints.jwks)


def handle(event, context):
    return router.dispatch(event, context)
