"""The OpenID Connect identity provider FranceConnect uses (docs/architecture.md §1, openapi.yaml).

Modules are named after what they hold and the spec they follow: ``server`` wires
Authlib's authorization server; ``authorize`` (request checks), ``transactions``
(the aidant's choice), ``grants`` (codes, ID token, PKCE), ``tokens`` (access
tokens, lifetimes, signing), ``userinfo``, ``claims`` (scopes and the usager's
identity), ``clients``, ``keys``, ``metadata`` (discovery); ``endpoints`` is what
the functions call; ``events`` the journal actions, and the log line that
replaces them for anonymous requests.
"""
