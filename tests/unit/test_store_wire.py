"""shared.store.wire: the item operations signed and sent without botocore's
per-call machinery, checked against botocore itself."""
from datetime import datetime, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.store import wire

AT = datetime(2026, 3, 1, 12, 30, 45, tzinfo=timezone.utc)
BODY = b'{"TableName":"aidants-connect","Key":{"pk":{"S":"STRUCTURE#s"},"sk":{"S":"STRUCTURE"}}}'


@pytest.mark.parametrize("url, host, token", [
    ("http://127.0.0.1:8000/", "127.0.0.1:8000", None),
    ("https://dynamodb.eu-west-3.amazonaws.com/", "dynamodb.eu-west-3.amazonaws.com", "session-token"),
])
def test_the_signature_is_botocores(monkeypatch, url, host, token):
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    ours = dict(headers)
    wire.sign(ours, BODY, host, "eu-west-3", "AKID", "secret/key", token, AT)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: AT.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=BODY, headers=dict(headers))
    SigV4Auth(Credentials("AKID", "secret/key", token), "dynamodb", "eu-west-3").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20260301T123045Z"


def test_a_client_with_another_hook_before_sending_keeps_botocores_path(moto_store):
    """moto answers from a before-send hook: the unit tests' store goes botocore's way."""
    from shared.store import Item
    client = Item._get_connection().connection.client
    assert not wire.plain(client) and not isinstance(client._make_api_call, wire.Caller)


# -- the transport: botocore's exceptions where urllib3's session raises them ------------------

import socket  # noqa: E402
import threading  # noqa: E402

from botocore.exceptions import (ConnectionClosedError, EndpointConnectionError,  # noqa: E402
                                 ReadTimeoutError)


class _Server:
    """A loopback server answering each connection with ``behaviour(conn)``."""

    def __init__(self, behaviour):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, args=(behaviour,), daemon=True).start()

    def _serve(self, behaviour):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=behaviour, args=(conn,), daemon=True).start()


def _read_request(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += conn.recv(65536)
    return head


def _answer(body: bytes, chunked: bool = False) -> bytes:
    if chunked:
        parts = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:5], body[5:]) if p)
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + parts + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body), body)


def test_a_kept_connection_closed_by_the_store_while_idle_is_replaced_without_an_error():
    def one_answer_then_close(conn):
        _read_request(conn)
        conn.sendall(_answer(b'{"Item":{}}'))
        conn.close()

    server = _Server(one_answer_then_close)
    transport = wire.Transport(server.url, 1, 1)
    assert transport.send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"{}").content == b'{"Item":{}}'
    import time
    time.sleep(0.05)  # the server's close reaches us
    answer = transport.send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"{}")
    assert answer.status_code == 200 and server.connections == 2


def test_answers_in_chunks_and_kept_connections_are_read_whole():
    def answers(conn):
        for chunked in (True, False, True):
            _read_request(conn)
            conn.sendall(_answer(b'{"Items":[1,2,3]}', chunked))

    server = _Server(answers)
    transport = wire.Transport(server.url, 1, 1)
    for _ in range(3):
        assert transport.send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"{}").content == b'{"Items":[1,2,3]}'
    assert server.connections == 1


def test_failures_are_botocores_exceptions():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(EndpointConnectionError):  # nothing was sent: a 503 at once
        wire.Transport(refused, 1, 1).send(b"POST / HTTP/1.1\r\n\r\n", b"")
    silent = _Server(lambda conn: (_read_request(conn), threading.Event().wait(5)))
    with pytest.raises(ReadTimeoutError):  # sent, never answered: outcome unknown
        wire.Transport(silent.url, 1, 0.2).send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"{}")
    cut = _Server(lambda conn: (_read_request(conn), conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"),
                                conn.close()))
    with pytest.raises(ConnectionClosedError):
        wire.Transport(cut.url, 1, 1).send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", b"{}")


def test_no_credentials_is_botocores_error_an_outage_not_a_crash():
    from types import SimpleNamespace

    from botocore.exceptions import NoCredentialsError

    from shared.store import is_outage
    caller = wire.Caller.__new__(wire.Caller)
    caller._client = SimpleNamespace(_request_signer=SimpleNamespace(_credentials=None))
    with pytest.raises(NoCredentialsError) as raised:
        caller._head("GetItem", b"{}")
    assert is_outage(raised.value)  # answered 503, as when botocore signs
