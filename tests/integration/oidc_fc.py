"""FranceConnect as the identity provider's client, for the OIDC integration tests.

Everything protocol-side is done by libraries that are not the project's code:
Authlib's requests client (authorization URL, PKCE, token request, state check) and
joserfc with Authlib's ID-token claim checks (signature against the published JWKS,
iss, aud, exp, nonce, at_hash). Set-up data (clients, usagers, mandates) goes
through ``shared`` against the stack's DynamoDB Local.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey

SCOPE = "openid profile birth email"


@dataclass
class Pending:
    """One authorization request as the client remembers it."""

    state: str | None
    nonce: str | None
    verifier: str | None
    response: requests.Response

    @property
    def location(self) -> str:
        return self.response.headers.get("Location", "")

    @property
    def txn(self) -> str:
        assert self.response.status_code == 302, self.response.text
        query = parse_qs(urlsplit(self.location).query)
        assert urlsplit(self.location).path == "/fi/", self.location
        return query["txn"][0]


@dataclass
class FranceConnect:
    stack: object
    client_id: str
    client_secret: str
    redirect_uri: str
    auth_method: str = "client_secret_basic"
    _metadata: dict = field(default_factory=dict)

    @property
    def metadata(self) -> dict:
        if not self._metadata:
            r = requests.get(self.stack.url + "/.well-known/openid-configuration", timeout=10)
            r.raise_for_status()
            self._metadata.update(r.json())
        return self._metadata

    def session(self, state: str | None = None, secret: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            secret or self.client_secret,
            scope=SCOPE,
            redirect_uri=self.redirect_uri,
            state=state,
            code_challenge_method="S256",
            token_endpoint_auth_method=self.auth_method,
        )

    def authorization_url(
        self, *, pkce: bool = True, drop: tuple[str, ...] = (), **params
    ) -> tuple[str, str, str, str | None]:
        """(url, state, nonce, code_verifier) of a request built by Authlib's client."""
        nonce = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48) if pkce else None
        extra = {"nonce": nonce, "acr_values": "eidas1", **params}
        if verifier:
            extra["code_verifier"] = verifier
        url, state = self.session().create_authorization_url(self.metadata["authorization_endpoint"], **extra)
        if drop:
            parts = urlsplit(url)
            kept = [p for p in parts.query.split("&") if p.split("=")[0] not in drop]
            url = parts._replace(query="&".join(kept)).geturl()
        return url, state, nonce, verifier

    def authorize(
        self, browser: requests.Session, *, pkce: bool = True, drop: tuple[str, ...] = (), method: str = "GET", **params
    ) -> Pending:
        """The browser follows FranceConnect to our /oidc/authorize (not further): a
        GET with the query, or a POST of the same parameters as a form."""
        url, state, nonce, verifier = self.authorization_url(pkce=pkce, drop=drop, **params)
        if method == "POST":
            parts = urlsplit(url)
            response = browser.post(
                parts._replace(query="").geturl(), data=parse_qsl(parts.query), allow_redirects=False, timeout=10
            )
        else:
            response = browser.get(url, allow_redirects=False, timeout=10)
        return Pending(
            state=None if "state" in drop else state,
            nonce=None if "nonce" in drop else nonce,
            verifier=verifier,
            response=response,
        )

    def fetch_token(
        self, pending: Pending, redirect_to: str, *, verifier: str | None = None, secret: str | None = None
    ) -> dict:
        """Authlib checks the state and sends the code; raises on an error answer."""
        return self.session(state=pending.state, secret=secret).fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=redirect_to,
            code_verifier=verifier or pending.verifier,
        )

    def token_request(
        self,
        code: str,
        *,
        redirect_uri: str | None = None,
        verifier: str | None = None,
        client_id: str | None = None,
        secret: str | None = None,
    ) -> requests.Response:
        """A raw token request, to look at error answers exactly."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or self.redirect_uri}
        if verifier:
            data["code_verifier"] = verifier
        return requests.post(
            self.metadata["token_endpoint"],
            data=data,
            timeout=10,
            auth=(client_id or self.client_id, secret or self.client_secret),
        )

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())

    def verify_id_token(self, token: dict, nonce: str, *, hs256_secret: str | None = None) -> CodeIDToken:
        """OpenID Connect Core §3.1.3.7, as a relying party does it."""
        if hs256_secret:
            key, algorithms = OctKey.import_key(hs256_secret), ["HS256"]
        else:
            key = self.jwks()
            algorithms = [a for a in self.metadata["id_token_signing_alg_values_supported"] if a != "HS256"]
        decoded = jwt.decode(token["id_token"], key, algorithms=algorithms)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [self.metadata["issuer"]]}},
            {"nonce": nonce, "client_id": self.client_id, "access_token": token["access_token"]},
        )
        claims.validate(leeway=5)
        return claims

    def userinfo(self, access_token: str, how: str = "get") -> requests.Response:
        """``get`` and ``post-header``: the Authorization header (RFC 6750 §2.1);
        ``post-body``: a form-encoded ``access_token`` (§2.2)."""
        url = self.metadata["userinfo_endpoint"]
        if how == "post-body":
            return requests.post(url, data={"access_token": access_token}, timeout=10)
        return requests.request(
            "POST" if how == "post-header" else "GET",
            url,
            timeout=10,
            headers={"Authorization": f"Bearer {access_token}"},
        )


def code_of(redirect_to: str) -> str:
    return parse_qs(urlsplit(redirect_to).query)["code"][0]


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# -- set-up data ---------------------------------------------------------------------

ANGELA = {
    "given_name": "Angela Claire Louise",
    "family_name": "DUBOIS",
    "birthdate": "1962-08-24",
    "gender": "female",
    "birthplace": "75107",
    "birthcountry": "99100",
    "email": "angela.dubois@example.fr",
    "preferred_username": "",
}


@dataclass
class World:
    """A structure with a logged-in aidant, a usager under an active mandate for
    ``papiers`` and ``argent``, and a registered FranceConnect client."""

    stack: object
    structure_id: str
    aidant_email: str
    aidant_id: str
    browser: requests.Session
    usager_id: str
    mandate_id: str
    fc: FranceConnect

    def authorize(self, fc: FranceConnect | None = None, **params) -> Pending:
        """FranceConnect sends this aidant's browser to /oidc/authorize."""
        return (fc or self.fc).authorize(self.browser, **params)

    def offer(self, txn: str) -> requests.Response:
        return self.browser.get(f"{self.stack.url}/api/fi/transactions/{txn}", timeout=10)

    def choose(
        self, txn: str, usager: str | None = None, demarche: str = "papiers", mandate: str | None = None
    ) -> requests.Response:
        """The choice as the front-end sends it: with the mandate the offer gave for
        the démarche (this world's own usager), or without one (then looked up)."""
        body = {"usager": usager or self.usager_id, "demarche": demarche}
        mandate = mandate or (self.mandate_id if usager is None else None)
        if mandate:
            body["mandate"] = mandate
        return self.browser.post(f"{self.stack.url}/api/fi/transactions/{txn}", timeout=10, json=body)

    def code_for(self, pending: Pending, demarche: str = "papiers") -> str:
        """The URL the front-end sends the browser to after the choice. The aidant's
        browser is the one FranceConnect sent: it holds the cookie /oidc/authorize set
        for the transaction (copied here when the request went through another
        ``requests.Session``, which is then the same browser's other tab)."""
        self.browser.cookies.update(pending.response.cookies)
        r = self.choose(pending.txn, demarche=demarche)
        assert r.status_code == 200, r.text
        return r.json()["redirect_to"]

    def login_again(self) -> None:
        """Log this browser in again, with a code no other test used (each time step is
        accepted once per device: a new device each time)."""
        import pyotp

        from tests.conftest import Mailbox, extract_link

        self.stack.use_store()
        from shared import otp

        device, secret = otp.new_device(self.aidant_id, "app")
        device.save()
        before = self.stack.mail.count()
        r = self.browser.post(
            self.stack.url + "/api/login",
            timeout=10,
            json={"email": self.aidant_email, "otp": pyotp.TOTP(secret, interval=30).now()},
        )
        assert r.status_code == 200, r.text
        message = self.stack.mail.wait_for(self.aidant_email, "connexion", after=before)
        link = extract_link(Mailbox.text(message), "/api/login/")
        assert self.browser.get(link, allow_redirects=False, timeout=10).status_code == 302


def new_usager_with_mandate(
    stack, structure_id: str, aidant_id: str, demarches=("papiers", "argent"), identity: dict | None = None
) -> tuple[str, str]:
    stack.use_store()
    from shared import mandates

    usager = mandates.upsert_usager("fc-" + secrets.token_hex(8), identity or ANGELA)
    mandate = mandates.create(
        mandates.NewMandate(
            structure_id=structure_id,
            usager=usager,
            demarches=list(demarches),
            duration="long",
            is_remote=False,
            remote_consent=None,
            aidant_id=aidant_id,
            aidant_name="Test Aidant",
            text_snapshot="Mandat de test",
        )
    )
    return usager.id, mandate.id


def register_client(stack, **kwargs) -> FranceConnect:
    stack.use_store()
    from shared.oidc import clients

    client_id = "fc-test-" + secrets.token_hex(4)
    redirect_uri = f"https://{client_id}.franceconnect.test/callback"
    auth_method = kwargs.pop("auth_method", "client_secret_basic")
    _, secret = clients.register(client_id, "FranceConnect (tests)", [redirect_uri], **kwargs)
    return FranceConnect(stack, client_id, secret, redirect_uri, auth_method)


def make_world(stack) -> World:
    structure_id = stack.new_structure("Structure OIDC")
    email = stack.new_aidant(structure_id)
    stack.use_store()
    from shared import accounts

    aidant_id = accounts.find_aidant_by_email(email).id
    usager_id, mandate_id = new_usager_with_mandate(stack, structure_id, aidant_id)
    browser = stack.login(requests.Session(), email)
    return World(stack, structure_id, email, aidant_id, browser, usager_id, mandate_id, register_client(stack))
