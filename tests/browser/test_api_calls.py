"""js/api.js, the front-end's one door to the API, as the accreditation requester
uses it: no session, only the token of the link e-mailed to them."""

import re

CALL = """async ([path, options]) => {
    const {api} = await import('/js/api.js');
    try {
        return {resolved: await api(path, options)};
    } catch (err) {
        return {name: err.name, status: err.status, code: err.code, details: err.details, field: err.field,
                message: err.message};
    }
}"""


def test_a_requesters_call_sends_the_link_token_and_no_cookie(page, stack):
    page.goto("/habilitation/")
    page.context.add_cookies([{"name": "ac_session", "value": "not-for-this-call", "url": stack.url}])
    sent = []
    page.on("request", lambda request: sent.append(request) if "/api/habilitation/" in request.url else None)
    token = "t" * 32
    error = page.evaluate(CALL, ["/api/habilitation/requests/inconnue", {"token": token}])
    assert error["name"] == "ApiError" and error["status"] == 404
    assert error["details"]["error"] == error["code"] and error["message"] == error["details"]["error_description"]
    headers = sent[0].all_headers()
    assert headers["authorization"] == "Bearer " + token
    assert "cookie" not in headers


def test_an_anonymous_call_shows_a_401_where_a_session_call_goes_to_login(page):
    page.goto("/habilitation/")
    error = page.evaluate(CALL, ["/api/me", {"anonymous": True}])
    assert error["status"] == 401 and error["code"] == "unauthorized"
    assert page.url.endswith("/habilitation/")
    # The same call with the aidant's session (none here) sends them to log in, and back.
    page.evaluate("() => { import('/js/api.js').then(({api}) => api('/api/me')); }")
    page.wait_for_url(re.compile(r"/connexion/\?next=%2Fhabilitation%2F&erreur=unauthorized$"))


def test_an_error_about_one_input_names_it(page, stack):
    page.goto("/habilitation/")
    body = {"siret": "123", "name": "", "address": "", "structure_type": "mairie", "referent": {}, "aidants": []}
    error = page.evaluate(CALL, ["/api/habilitation/requests", {"anonymous": True, "method": "POST", "body": body}])
    assert error["status"] == 400
    assert error["field"] and error["field"] == error["details"]["field"]
