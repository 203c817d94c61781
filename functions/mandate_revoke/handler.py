"""mandate_revoke: revoke a whole mandate or one of its démarches (TOTP-confirmed)."""

from shared import error_codes as codes
from shared import errors, mandates, revocation, sessions
from shared.http import Router, json_response

router = Router()


@router.route("POST", "/api/mandates/{id}/revoke")
def revoke(request):
    caller = sessions.authenticate(request, acting=True)  # the terms of use accepted (shared.cgu)
    data = request.json()
    demarche = data.get("demarche")
    if demarche is not None and not isinstance(demarche, str):
        raise errors.BadRequest("Le champ « demarche » doit être une clé de démarche.", code=codes.INVALID_DEMARCHE)
    code = data.get("otp")
    if not isinstance(code, str) or not code.strip():
        raise errors.BadRequest("Merci d'indiquer le code à 6 chiffres.", code=codes.INVALID_REQUEST)
    mandate, autorisations = revocation.revoke(
        caller.structure_id, caller.aidant_id, request.params["id"], code, demarche=demarche
    )
    return json_response(mandates.mandate_json(mandate, autorisations))


def handle(event, context):
    return router.dispatch(event, context)
