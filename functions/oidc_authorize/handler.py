"""oidc_authorize: FranceConnect's authorization request, then the aidant's choice
of usager and démarche, which issues the code."""

from shared.http import Router
from shared.oidc import endpoints

router = Router()
router.route("GET,POST", "/oidc/authorize")(endpoints.authorize)
router.route("GET", "/api/fi/transactions/{txn}")(endpoints.transaction)
router.route("POST", "/api/fi/transactions/{txn}")(endpoints.choose)


def handle(event, context):
    return router.dispatch(event, context)
