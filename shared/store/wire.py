"""The item operations' own way to the store: the same request botocore would send,
built without botocore's per-call machinery.

For a GetItem, botocore resolves the endpoint from its rule set, validates and
serialises the parameters against the service model (walking every attribute of
every item a transaction writes), emits a dozen events, builds a User-Agent, signs,
and parses the answer against the model: about 1 ms of CPU per call in a function,
more than the rest of a request (docs/performance.md). The parameters pynamodb
passes are already the wire format of the JSON protocol, so for the item operations
this module sends ``json.dumps`` of them, signed here (SigV4, the signing key kept
per day), over one kept-alive HTTP/1.1 connection per thread (:class:`Transport`: one
``sendall``, one parse of the status line and headers, with the client's timeouts and
TLS verification, and botocore's exceptions, ``EndpointConnectionError``,
``ReadTimeoutError``…, that ``shared.store.writes`` and ``is_outage`` rely on); through
the client's own urllib3 session when a proxy or a client certificate is configured.

What stays botocore's: the table operations; every error answer (parsed by
botocore's parser into the same ``ClientError``, cancellation reasons included); the
decision to retry and the delay (its standard retry handler, through the same
``needs-retry`` event, with its quota given back on success through ``after-call``);
the rare answer holding a binary attribute. A client with another ``before-send``
handler than pynamodb's own (moto in the unit tests answers there) keeps botocore's
whole path.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import select
import socket
import ssl
import threading
import time
import zlib
from datetime import datetime, timezone
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import (ChecksumError, ConnectionClosedError, ConnectTimeoutError,
                                 EndpointConnectionError, NoCredentialsError, ReadTimeoutError, SSLError)
from botocore.httpsession import get_cert_path
from urllib3 import HTTPHeaderDict

OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
                        "BatchWriteItem", "TransactWriteItems", "TransactGetItems"})
_SERVICE = "dynamodb"
_BLOB_KEY = re.compile(rb'"BS?"\s*:')


def plain(client) -> bool:
    """Whether nothing but pynamodb's own hook (without extra headers) is registered
    before botocore sends a request: then nothing is lost by not emitting it."""
    try:
        handlers = client.meta.events._emitter._handlers.prefix_search(f"before-send.{_SERVICE}.GetItem")
    except AttributeError:
        return False
    return all(getattr(getattr(handler, "__self__", None), "_extra_headers", "other") is None
               for handler in handlers)


class _SigningKeys:
    """SigV4's derived key for a secret, a day and a region: four HMACs, once a day."""

    def __init__(self):
        self._keys: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()

    def get(self, secret: str, day: str, region: str) -> bytes:
        found = self._keys.get((secret, day, region))
        if found is None:
            key = _hmac(("AWS4" + secret).encode(), day)
            for part in (region, _SERVICE, "aws4_request"):
                key = _hmac(key, part)
            with self._lock:
                if len(self._keys) > 8:
                    self._keys.clear()
                self._keys[(secret, day, region)] = found = key
        return found


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


_signing_keys = _SigningKeys()


def sign(headers: dict, body: bytes, host: str, region: str, access_key: str, secret_key: str,
         token: str | None, at: datetime) -> None:
    """Add ``X-Amz-Date`` (and the session token) and the ``Authorization`` of SigV4 for
    a POST to ``/`` with no query, every header given signed (the AWS reference
    algorithm; ``tests/unit/test_store_wire.py`` checks it against botocore's)."""
    amz_date = at.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers["X-Amz-Date"] = amz_date
    if token:
        headers["X-Amz-Security-Token"] = token
    canonical = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    canonical["host"] = host
    names = sorted(canonical)
    signed = ";".join(names)
    request = "\n".join(["POST", "/", "", *(f"{n}:{canonical[n]}" for n in names), "", signed,
                         hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{_SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(_signing_keys.get(secret_key, day, region), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")


class Response:
    """What botocore's parser and retry handler read of an answer."""

    def __init__(self, status_code: int, headers: dict, content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content


class Transport:
    """HTTP/1.1 to the store: one kept-alive connection per thread, written in one
    ``sendall`` and read with a minimal parser (status line, headers, a body of
    ``Content-Length`` or chunks). urllib3 and http.client cost more CPU per call than
    the rest of a store call (header objects, an email-package header parser).

    Failures are botocore's exceptions, as its urllib3 session raises them: a refused
    connection ``EndpointConnectionError`` (nothing was sent), a connect timeout
    ``ConnectTimeoutError``, a read timeout ``ReadTimeoutError`` and a connection
    closed before the whole answer ``ConnectionClosedError`` (sent, outcome unknown).
    A kept connection the server closed while idle is noticed before it is used (a
    poll, as urllib3 does) and replaced."""

    def __init__(self, url: str, connect_timeout: float, read_timeout: float, verify=True):
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._tls = None
        if parts.scheme == "https":
            self._tls = ssl.create_default_context(cafile=get_cert_path(verify) if verify is not False else None)
            if verify is False:
                self._tls.check_hostname, self._tls.verify_mode = False, ssl.CERT_NONE
        self._local = threading.local()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except socket.timeout as exc:
            raise ConnectTimeoutError(endpoint_url=self.url, error=exc)
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self.url, error=exc)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=self.url, error=exc)
        except OSError as exc:
            sock.close()
            raise EndpointConnectionError(endpoint_url=self.url, error=exc)
        sock.settimeout(self.read_timeout)
        return sock

    def _kept(self) -> socket.socket:
        sock = getattr(self._local, "sock", None)
        if sock is not None:
            try:
                dropped = bool(select.select([sock], [], [], 0)[0])  # EOF (or stray bytes) while idle
            except (OSError, ValueError):
                dropped = True
            if not dropped:
                return sock
            self.close()
        sock = self._local.sock = self._connect()
        return sock

    def close(self) -> None:
        sock, self._local.sock = getattr(self._local, "sock", None), None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def send(self, head: bytes, body: bytes) -> Response:
        sock = self._kept()
        try:
            sock.sendall(head + body)
            return self._read(sock)
        except socket.timeout as exc:
            self.close()
            raise ReadTimeoutError(endpoint_url=self.url, error=exc)
        except (OSError, ValueError) as exc:  # reset, broken pipe, closed, an answer that is no HTTP
            self.close()
            raise ConnectionClosedError(endpoint_url=self.url, error=exc)

    def _read(self, sock: socket.socket) -> Response:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed before the headers")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked(sock, rest)
        else:
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = sock.recv(max(65536, length - len(rest)))
                if not chunk:
                    raise ConnectionResetError("closed before the whole body")
                rest += chunk
            body = rest[:length]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    @staticmethod
    def _chunked(sock: socket.socket, data: bytes) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("closed inside a chunk")
                data += chunk
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(data) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("closed inside a chunk")
                data += chunk
            if size == 0:
                return body  # no trailers from the store
            body += data[:size]
            data = data[size + 2:]


def _transport_for(client) -> Transport | None:
    """A :class:`Transport` with the client's timeouts and TLS verification, unless its
    session needs what only urllib3 does here (a proxy, a client certificate)."""
    session = client._endpoint.http_session
    url = client.meta.endpoint_url
    try:
        if session._proxy_config.proxy_url_for(url) or session._cert_file:
            return None
    except AttributeError:
        return None
    config = client.meta.config
    return Transport(url, config.connect_timeout, config.read_timeout, getattr(session, "_verify", True))


class Caller:
    """Stands for ``client._make_api_call``: the item operations go the short way,
    everything else (and a body that json cannot carry) to botocore's own method."""

    def __init__(self, client):
        self._client = client
        self._botocore = client._make_api_call
        self._url = client.meta.endpoint_url
        parts = urlsplit(self._url)
        default_port = {"http": 80, "https": 443}.get(parts.scheme)
        self._host = parts.hostname + (f":{parts.port}" if parts.port and parts.port != default_port else "")
        self._region = client.meta.region_name
        self._target = client.meta.service_model.metadata["targetPrefix"]
        self._content_type = f"application/x-amz-json-{client.meta.service_model.metadata['jsonVersion']}"
        self._user_agent = client._user_agent_creator.to_string()
        self._models: dict[str, object] = {}
        self._transport = _transport_for(client)

    def __call__(self, operation_name: str, api_params: dict):
        if operation_name not in OPERATIONS:
            return self._botocore(operation_name, api_params)
        try:
            body = json.dumps(api_params, separators=(",", ":")).encode()
        except (TypeError, ValueError):  # bytes (a binary attribute): botocore encodes them
            return self._botocore(operation_name, api_params)
        return self._send(operation_name, body)

    def _operation(self, name: str):
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = self._client.meta.service_model.operation_model(name)
        return model

    def _request(self, operation_name: str, body: bytes) -> AWSPreparedRequest:
        credentials = self._credentials()
        headers = {"Content-Type": self._content_type, "X-Amz-Target": f"{self._target}.{operation_name}"}
        sign(headers, body, self._host, self._region, credentials.access_key, credentials.secret_key,
             credentials.token, datetime.now(timezone.utc))
        headers["Host"] = self._host
        headers["User-Agent"] = self._user_agent
        headers["Content-Length"] = str(len(body))
        return AWSPreparedRequest("POST", self._url, headers, body, stream_output=False)

    def _credentials(self):
        """The client's credentials as of now (refreshed by botocore when they expire);
        none at all is botocore's ``NoCredentialsError`` (an outage: 503), as with
        its own signer."""
        credentials = getattr(self._client._request_signer, "_credentials", None)
        if credentials is None:
            raise NoCredentialsError()
        return credentials.get_frozen_credentials()

    def _head(self, operation_name: str, body: bytes) -> bytes:
        credentials = self._credentials()
        headers = {"Content-Type": self._content_type, "X-Amz-Target": f"{self._target}.{operation_name}"}
        sign(headers, body, self._host, self._region, credentials.access_key, credentials.secret_key,
             credentials.token, datetime.now(timezone.utc))
        lines = [f"POST / HTTP/1.1", f"Host: {self._host}", f"User-Agent: {self._user_agent}",
                 f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def _send(self, operation_name: str, body: bytes):
        session = self._client._endpoint.http_session
        context: dict = {}
        attempts = 0
        while True:
            attempts += 1
            http, parsed, caught = None, None, None
            try:  # re-signed on each attempt
                if self._transport is not None:
                    http = self._transport.send(self._head(operation_name, body), body)
                else:
                    http = session.send(self._request(operation_name, body))
            except Exception as exc:  # botocore's exceptions, as its endpoint would see them
                caught = exc
            if http is not None:
                content = http.content
                if 200 <= http.status_code < 300 and self._checksum_ok(http, content):
                    parsed = (json.loads(content) if not _BLOB_KEY.search(content)
                              else self._parse(operation_name, http))
                    self._client.meta.events.emit(f"after-call.{_SERVICE}.{operation_name}", http_response=http,
                                                  parsed=parsed, model=self._operation(operation_name),
                                                  context=context)
                    return parsed
                parsed = self._parse(operation_name, http) if http.status_code >= 300 else {}
            if not self._retry(operation_name, attempts, context, http, parsed, caught):
                break
        if caught is not None:
            raise caught
        if http.status_code < 300:  # a body whose CRC32 never matched
            raise ChecksumError(checksum_type="crc32", expected_checksum=http.headers.get("x-amz-crc32"),
                                actual_checksum=zlib.crc32(http.content) & 0xFFFFFFFF)
        code = parsed.get("Error", {}).get("Code")
        raise self._client.exceptions.from_code(code)(parsed, operation_name)

    @staticmethod
    def _checksum_ok(http, content: bytes) -> bool:
        expected = http.headers.get("x-amz-crc32")
        return expected is None or zlib.crc32(content) & 0xFFFFFFFF == int(expected)

    def _parse(self, operation_name: str, http) -> dict:
        """botocore's own parsing: error answers (code, message, cancellation
        reasons), or an item with a binary attribute."""
        endpoint = self._client._endpoint
        parser = endpoint._response_parser_factory.create_parser("json")
        response = {"headers": HTTPHeaderDict(http.headers), "status_code": http.status_code, "body": http.content}
        parsed = parser.parse(response, self._operation(operation_name).output_shape)
        if http.status_code >= 300:
            # As botocore's endpoint does: a modeled error's own fields (a cancelled
            # transaction's CancellationReasons) join the parsed answer.
            code = parsed.get("Error", {}).get("Code")
            shape = self._client.meta.service_model.shape_for_error_code(code) if code else None
            if shape is not None:
                parsed.update(parser.parse(response, shape))
        return parsed

    def _retry(self, operation_name, attempts, context, http, parsed, caught) -> bool:
        """botocore's standard retry decision (attempts, quota, back-off) through its
        ``needs-retry`` event; sleeps the delay it gives and says whether to go again."""
        responses = self._client.meta.events.emit(
            f"needs-retry.{_SERVICE}.{operation_name}", response=None if http is None else (http, parsed),
            endpoint=self._client._endpoint, operation=self._operation(operation_name), attempts=attempts,
            caught_exception=caught, request_dict={"context": context})
        delay = next((r[1] for r in responses if r[1] is not None), None)
        if delay is None or delay is False:
            return False
        time.sleep(delay)
        return True


def install(client) -> None:
    """Route ``client``'s item operations through :class:`Caller`, unless something
    else listens before botocore sends (then its whole path is kept)."""
    if plain(client) and not isinstance(getattr(client, "_make_api_call", None), Caller):
        client._make_api_call = Caller(client)


def uninstalled(client):
    """botocore's own ``_make_api_call`` of ``client`` (tests compare both ways)."""
    call = client._make_api_call
    return call._botocore if isinstance(call, Caller) else call
