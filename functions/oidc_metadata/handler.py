"""oidc_metadata: OpenID Connect discovery and the public signing keys. Two JSON
documents built once per process: it imports neither the store nor Jinja2 nor the
mandates (``shared.oidc.metadata``), so a new replica answers sooner."""

from shared.http import Router
from shared.oidc import metadata

router = Router()
router.route("GET", "/.well-known/openid-configuration")(metadata.discovery_response)
router.route("GET", "/oidc/jwks")(metadata.jwks_response)


def handle(event, context):
    return router.dispatch(event, context)
