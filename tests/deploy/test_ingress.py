"""The generated ingress sends every request where the local gateway sends it.

The nginx configuration is parsed and its routing table run in Python, request by
request, against the local gateway's own dispatch; where an nginx binary is
installed, `nginx -t` checks each output too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy import ingress
from local import gateway as local_gateway
from local import stack

ROOT = stack.ROOT
ROUTES = stack.routes()
FUNCTIONS = stack.functions()
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


# -- a small nginx parser ---------------------------------------------------------


def _tokens(text: str):
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            yield c
            i += 1
        elif c in "\"'":
            j, value = i + 1, []
            while text[j] != c:
                if text[j] == "\\" and text[j + 1] in (c, "\\"):
                    j += 1
                value.append(text[j])
                j += 1
            yield ("str", "".join(value))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{};":
                j += 1
            yield ("str", text[i:j])
            i = j


def parse_nginx(text: str) -> list:
    """[(name, [args], children or None)]; raises on unbalanced blocks or a
    directive left without its semicolon."""
    stack_, current, words = [], [], []
    for token in _tokens(text):
        if token == ";":
            assert words, "empty directive"
            current.append((words[0], words[1:], None))
            words = []
        elif token == "{":
            assert words, "block without a name"
            block = (words[0], words[1:], [])
            current.append(block)
            stack_.append(current)
            current, words = block[2], []
        elif token == "}":
            assert not words, f"directive without ';' before '}}': {words}"
            assert stack_, "unbalanced '}'"
            current = stack_.pop()
        else:
            words.append(token[1])
    assert not stack_ and not words, "unterminated block or directive"
    return current


def find(tree: list, name: str, *args: str) -> list:
    found = []
    for directive in tree:
        if directive[0] == name and tuple(directive[1][: len(args)]) == args:
            found.append(directive)
        if directive[2]:
            found.extend(find(directive[2], name, *args))
    return found


class NginxRouter:
    """What the generated server does with one request, per its configuration."""

    def __init__(self, text: str):
        self.tree = parse_nginx(text)
        (routing_map,) = find(self.tree, "map", "$request_method:$uri", "$aidants_function")
        self.table = [(re.compile(key[1:]), args[0]) for key, args, _ in routing_map[2] if key != "default"]
        assert all(key.startswith("~") for key, _, _ in routing_map[2] if key != "default")
        self.servers = [
            s
            for s in find(self.tree, "server")
            if s[2] is not None
            and not any(d[0] == "location" and d[1] == ["/"] and any(x[0] == "return" for x in d[2]) for d in s[2])
        ]
        (server,) = self.servers
        # nginx tries regex locations in the order written: control characters, then routes.
        self.refused, self.api = [d for d in server[2] if d[0] == "location" and d[1][0] == "~"]
        self.refused_regex = re.compile(self.refused[1][1])
        self.api_regex = re.compile(self.api[1][1])

    def route(self, method: str, path: str) -> str | None:
        if self.refused_regex.search(path):
            return "404"  # refused as JSON, before any route
        if not self.api_regex.match(path):
            return None  # the static front-end
        for regex, function in self.table:
            if regex.match(f"{method}:{path}"):
                return function
        return "405"


def local_choice(gw, method: str, path: str) -> str | None:
    status, _, body = gw.dispatch(
        {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": "", "wsgi.input": None, "CONTENT_LENGTH": "0"}
    )
    if status.startswith("299 "):
        return body.decode()
    if status.startswith("405"):
        return "405"
    if (
        status.startswith("404")
        and body.startswith(b"{")
        and json.loads(body)["error_description"] == "Adresse inconnue."
    ):
        return "404"  # refused before any route (a control character in the path)
    return None


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    """The real local gateway, its forwarding replaced by naming the function."""
    folder = tmp_path_factory.mktemp("gw")
    instance = local_gateway.Gateway(env={}, log_dir=folder, mail_dir=folder)
    instance._forward = lambda environ, function, path, asynchronous=False: ("299 Routed", [], function.encode())
    return instance


# The local gateway also plays OpenFaaS's gateway (/function/<name>/...); the edge
# never exposes those forms, which the next test checks.
PROBES = ingress._probe_paths(ROUTES) + [
    "/",
    "/connexion/",
    "/system/functions",
    "/api/unknown",
    "/api/login/abc\ndef",
    "/oidc/userinfo\n",
    "/fi/\r.html",
]


def test_a_path_with_a_control_character_is_refused_as_json_at_the_edge_and_locally(gw):
    """The python3-http template's Flask route never matches such a path: the function
    would answer Flask's HTML 404 page (tests/unit/test_template_contract.py)."""
    router = NginxRouter(ingress.generate("nginx"))
    (returned,) = [d for d in router.refused[2] if d[0] == "return"]
    assert returned[1][0] == "404" and json.loads(returned[1][1])["error"] == "not_found"
    for path in ("/api/login/abc\ndef", "/api/mandates/x\r\ny", "/oidc/userinfo\n", "/x\x7f"):
        assert router.route("GET", path) == local_choice(gw, "GET", path) == "404", repr(path)


@pytest.mark.parametrize("options", [{}, {"tls": False}], ids=["tls", "plain"])
def test_nginx_sends_every_request_where_the_local_gateway_does(gw, options):
    router = NginxRouter(ingress.nginx_conf(ROUTES, ingress.default_options(**options)))
    for path in PROBES:
        for method in METHODS:
            assert router.route(method, path) == local_choice(gw, method, path), f"{method} {path}"


def test_every_route_is_in_the_nginx_table_in_the_gateway_order():
    text = ingress.generate("nginx")
    router = NginxRouter(text)
    assert [function for _, function in router.table] == [r.function for r in ROUTES]
    for route in ROUTES:
        sample = re.sub(r"\{\w+\}", "x1", route.path)
        for method in route.methods:
            assert router.route(method, sample) == route.function


def test_nginx_forwards_to_the_gateway_with_the_public_path_and_exposes_nothing_else():
    text = ingress.generate("nginx")
    router = NginxRouter(text)
    proxies = find(router.tree, "proxy_pass")
    assert [p[1] for p in proxies] == [["http://openfaas_gateway/function/$aidants_function$request_uri"]]
    assert find(router.tree, "upstream", "openfaas_gateway")[0][2][0][1] == ["127.0.0.1:8080"]
    assert find(router.tree, "client_max_body_size")[0][1] == ["1m"]
    (server,) = router.servers
    assert ["listen", ["443", "ssl"], None] in [list(d) for d in server[2]]
    timeout = int(find(router.tree, "proxy_read_timeout")[0][1][0].rstrip("s"))
    longest = max(ingress._seconds(fn.environment["exec_timeout"]) for fn in FUNCTIONS.values())
    assert timeout > longest, "the edge must wait longer than the function's own timeout"
    for path in ("/system/functions", "/function/otp-verify/api/me", "/async-function/notify"):
        assert all(router.route(m, path) is None for m in METHODS)


def test_kubernetes_routes_through_the_same_nginx_table():
    docs = [d for d in yaml.safe_load_all(ingress.generate("k8s")) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"ConfigMap", "Deployment", "Service", "Ingress"}
    conf = by_kind["ConfigMap"]["data"]["default.conf"]
    router = NginxRouter(conf)
    assert [f for _, f in router.table] == [r.function for r in ROUTES]
    assert find(router.tree, "upstream", "openfaas_gateway")[0][2][0][1] == ["gateway.openfaas.svc.cluster.local:8080"]
    deployment, service, ing = by_kind["Deployment"], by_kind["Service"], by_kind["Ingress"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == by_kind["ConfigMap"]["metadata"]["name"]
    port = service["spec"]["ports"][0]
    assert port["targetPort"] == pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    rule = ing["spec"]["rules"][0]
    host = ingress.default_options().server_name
    assert rule["host"] == host and ing["spec"]["tls"][0]["hosts"] == [host]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"number": port["port"]}}


def test_function_ingresses_keep_the_public_path_or_refuse(tmp_path):
    """FunctionIngress cannot route on the method: with the mandates' GET/POST on one
    path it refuses; on routes it can express, the operator's rewrite
    (/function/<fn>/$1) gives each handler its public path."""
    split = any(
        len({ingress.resolve(ROUTES, m, re.sub(r"\{\w+\}", "x1", r.path)) for m in METHODS} - {"405"}) > 1
        for r in ROUTES
    )
    if split:
        with pytest.raises(ingress.NotRepresentable):
            ingress.generate("functioningress")
    simple = tmp_path / "stack.yml"
    simple.write_text(
        yaml.safe_dump(
            {
                "functions": {
                    "otp-verify": {
                        "handler": "./functions/otp_verify",
                        "annotations": {
                            stack.ROUTES_ANNOTATION: "POST /api/login\nGET /api/login/{token}\nGET /api/me\n"
                        },
                    },
                    "oidc-metadata": {
                        "handler": "./functions/oidc_metadata",
                        "annotations": {
                            stack.ROUTES_ANNOTATION: "GET /.well-known/openid-configuration\nGET /oidc/jwks\n"
                        },
                    },
                }
            }
        )
    )
    routes = stack.routes(simple)
    docs = [d for d in yaml.safe_load_all(ingress.generate("functioningress", ingress.default_options(), simple)) if d]
    assert len(docs) == len(routes)
    for route in routes:
        sample = re.sub(r"\{\w+\}", "x1", route.path)
        (doc,) = [d for d in docs if re.match("^" + d["spec"]["path"], sample, re.IGNORECASE)]
        assert doc["spec"]["function"] == route.function and doc["spec"]["tls"]["enabled"]
        rewritten = f"/function/{route.function}/" + re.match("^" + doc["spec"]["path"], sample).group(1)
        assert rewritten == f"/function/{route.function}{sample}"


def test_the_command_writes_the_generated_files(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "deploy", "ingress", "--kind", "nginx", "--no-tls", "--server-name", "example.test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "server_name example.test;" in out.stdout and "ssl_certificate" not in out.stdout
    parse_nginx(out.stdout)
    listing = subprocess.run(
        [sys.executable, "-m", "deploy", "ingress", "--kind", "k8s", "--write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    written = Path(listing.stdout.strip())
    assert written == ROOT / "deploy" / "generated" / "k8s.yaml" and written.is_file()


# -- issue 14: rate limits of anonymous routes, no framing ---------------------------


def _site_server(text: str) -> list:
    (server,) = NginxRouter(text).servers
    return server[2]


def _zone_of(tree: list, method: str, path: str) -> set[str]:
    """The zones whose key is set (so limit_req counts the request) for method+path."""
    zones = set()
    for directive in find(tree, "map", "$request_method:$uri"):
        variable = directive[1][1]
        if not variable.endswith("_key"):
            continue
        for key, args, _ in directive[2]:
            if key != "default" and re.match(key[1:], f"{method}:{path}"):
                assert args == ["$binary_remote_addr"]
                zones.add(variable[1 : -len("_key")])
                break
    return zones


CONFIGURATIONS = {
    "nginx-tls": lambda: ingress.generate("nginx"),
    "nginx-plain": lambda: ingress.nginx_conf(ROUTES, ingress.default_options(tls=False)),
    "k8s": lambda: next(d for d in yaml.safe_load_all(ingress.generate("k8s")) if d and d["kind"] == "ConfigMap")[
        "data"
    ]["default.conf"],
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_the_routes_anonymous_callers_reach_are_rate_limited_per_address(name):
    tree = parse_nginx(CONFIGURATIONS[name]())
    expected = {
        ("POST", "/api/login"): "ac_login",
        ("GET", "/api/login/x1"): "ac_login",
        ("GET", "/oidc/authorize"): "ac_oidc_browser",
        ("HEAD", "/oidc/authorize"): "ac_oidc_browser",
        ("POST", "/oidc/token"): "ac_oidc_backchannel",
        ("GET", "/oidc/userinfo"): "ac_oidc_backchannel",
        ("POST", "/oidc/userinfo"): "ac_oidc_backchannel",
        ("POST", "/api/habilitation/requests"): "ac_habilitation",
        ("PUT", "/api/habilitation/requests/x1"): "ac_habilitation",
        ("POST", "/api/habilitation/requests/x1/submit"): "ac_habilitation",
        ("POST", "/api/habilitation/requests/x1/messages"): "ac_habilitation",
    }
    for (method, path), zone in expected.items():
        assert _zone_of(tree, method, path) == {zone}, (method, path)
    # A session's requests, and reading one's own request by its link, are not counted.
    for method, path in [
        ("GET", "/api/me"),
        ("POST", "/api/logout"),
        ("POST", "/api/mandates"),
        ("GET", "/api/habilitation/requests/x1"),
        ("GET", "/oidc/jwks"),
        ("POST", "/api/staff/habilitation/requests/x1/messages"),
        ("GET", "/"),
    ]:
        assert _zone_of(tree, method, path) == set(), (method, path)
    zones = {d[1][1].split("=")[1].split(":")[0]: d[1] for d in find(tree, "limit_req_zone")}
    production_limits = [limit for limit in ingress.RATE_LIMITS if not limit.sandbox]  # the sandbox's: its stack
    assert set(zones) == {limit.zone for limit in production_limits}
    for limit in production_limits:
        assert zones[limit.zone] == [f"${limit.zone}_key", f"zone={limit.zone}:10m", f"rate={limit.rate}"]
    server = _site_server(CONFIGURATIONS[name]())
    (api,) = [d for d in server if d[0] == "location" and d[1][0] == "~" and d[1][1].startswith("^(?:")]
    limits = {d[1][0]: d[1][1:] for d in api[2] if d[0] == "limit_req"}
    assert limits == {f"zone={limit.zone}": [f"burst={limit.burst}", "nodelay"] for limit in production_limits}
    assert ["limit_req_status", ["429"], None] in [list(d) for d in server]
    assert ["error_page", ["429", "=", "@too_many_requests"], None] in [list(d) for d in server]
    (too_many,) = [d for d in server if d[0] == "location" and d[1] == ["@too_many_requests"]]
    assert '"error":"too_many_requests"' in [d for d in too_many[2] if d[0] == "return"][0][1][1]


def test_behind_ingress_nginx_the_client_address_is_the_forwarded_one():
    conf = CONFIGURATIONS["k8s"]()
    server = _site_server(conf)
    assert ["real_ip_header", ["X-Forwarded-For"], None] in [list(d) for d in server]
    assert not find(parse_nginx(CONFIGURATIONS["nginx-tls"]()), "real_ip_header")  # faasd: nginx is the edge


def test_a_rate_limit_on_a_route_stack_yml_does_not_declare_is_an_error(monkeypatch):
    monkeypatch.setattr(
        ingress,
        "RATE_LIMITS",
        ingress.RATE_LIMITS + (ingress.RateLimit("ac_typo", "1r/s", 1, ("POST /api/logn",), "typo"),),
    )
    with pytest.raises(ValueError, match="not a route"):
        ingress.generate("nginx")


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_no_answer_of_the_site_can_be_framed(name):
    """nginx drops the server's add_header in a location that has its own, and adds
    none to error answers without ``always``: so every location says it, always."""
    server = _site_server(CONFIGURATIONS[name]())
    locations = [d for d in server if d[0] == "location"]
    assert len(locations) == 6  # control characters, the API, 405, 429, the front-end, the DSFR
    for location in locations:
        headers = {tuple(d[1][:1]): d[1][1:] for d in location[2] if d[0] == "add_header"}
        assert headers[("X-Frame-Options",)] == ["DENY", "always"], location[1]
        csp, always = headers[("Content-Security-Policy",)]
        assert "frame-ancestors 'none'" in csp and always == "always", location[1]
    (api,) = [d for d in locations if d[1][0] == "~" and d[1][1].startswith("^(?:")]
    # The functions' own X-Frame-Options is replaced, not doubled.
    assert ["proxy_hide_header", ["X-Frame-Options"], None] in [list(d) for d in api[2]]
    if name == "nginx-tls":
        for location in locations:  # and HSTS, which a location's own add_header would drop
            assert any(d[0] == "add_header" and d[1][0] == "Strict-Transport-Security" for d in location[2])


# -- nginx itself, where it is installed (apt-get install nginx-light) ----------------


def _self_signed(folder: Path, host: str) -> None:
    """A certificate where certbot would put one, for `nginx -t` to load."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.mark.skipif(shutil.which("nginx") is None, reason="no nginx binary (apt-get install nginx-light)")
@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_nginx_accepts_the_generated_configuration(name, tmp_path):
    """`nginx -t` on each output, included in an http block as /etc/nginx/conf.d is."""
    text = CONFIGURATIONS[name]()
    options = ingress.default_options()
    text = text.replace(options.access_log, str(tmp_path / "access.log"))
    text = text.replace("/etc/letsencrypt/live/", f"{tmp_path}/live/")
    # nginx resolves an upstream's name when it loads: the gateway's resolves in the cluster only.
    text = text.replace("gateway.openfaas.svc.cluster.local:8080", "127.0.0.1:8080")
    if "ssl_certificate " in text:
        _self_signed(tmp_path / "live" / options.server_name, options.server_name)
    (tmp_path / "site.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n"
    )
    check = subprocess.run(
        [
            "nginx",
            "-t",
            "-q",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
