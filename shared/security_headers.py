"""The browser security headers, written once.

Three places send them, and all three read them here: the functions
(``shared.http``: every answer, and the pages a function renders), the local
gateway (the static front-end, ``local/gateway.py``) and the production edge
(``deploy/ingress.py`` writes them into the nginx configuration). So a page has
the same policy in the local stack, the tests and production.
"""

from __future__ import annotations


def _policy(*directives: str) -> str:
    return "; ".join(directives)


# Clickjacking: no page of ours may be framed, so a foreign page cannot overlay our
# buttons (a mandate signed, a login confirmed by a click the user did not mean).
FRAME_ANCESTORS = "frame-ancestors 'none'"
# The static front-end (frontend/, the DSFR): its own scripts, styles and images,
# the DSFR's inline styles, data: icons; forms post to us only.
STATIC_CSP = _policy(
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self' 'unsafe-inline'",
    FRAME_ANCESTORS,
    "base-uri 'none'",
    "form-action 'self'",
)
# A page rendered by a function (printable mandate, authorize error page): its own
# inline styles (print CSS), the static front-end's print script, nothing else.
PAGE_CSP = _policy(
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    "script-src 'self'",
    FRAME_ANCESTORS,
    "base-uri 'none'",
    "form-action 'none'",
)
# What the edge adds to every answer of the functions: a browser enforces every
# policy it is sent, so a second one only adds restrictions and this one is safe over
# a page's own full policy.
EDGE_CSP = FRAME_ANCESTORS

CSP = "Content-Security-Policy"
X_FRAME_OPTIONS = ("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP 2
NOSNIFF = ("X-Content-Type-Options", "nosniff")  # a JSON answer is never run as a script
REFERRER_POLICY = ("Referrer-Policy", "same-origin")  # our URLs (tokens in them) never go to another site
# Two years. Only where TLS ends (the edge with its certificate): over plain HTTP,
# browsers ignore it, and the local stack is plain HTTP.
HSTS = ("Strict-Transport-Security", "max-age=63072000")

# Every answer of a function (shared.http), beside its Cache-Control.
ANSWER_HEADERS = (NOSNIFF, REFERRER_POLICY)
# A page rendered by a function (shared.http.html_response).
PAGE_HEADERS = ((CSP, PAGE_CSP), X_FRAME_OPTIONS)
# The static front-end's answers, the 404 page and redirects included.
STATIC_HEADERS = (NOSNIFF, X_FRAME_OPTIONS, (CSP, STATIC_CSP))
# What the edge puts on every answer the functions give (deploy/ingress.py).
EDGE_FRAME_HEADERS = (X_FRAME_OPTIONS, (CSP, EDGE_CSP))
