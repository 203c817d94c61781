"""Freeze the real DynamoDB Local at the exact moment a chosen write reaches it.

A TCP relay in front of DynamoDB Local reads each request the functions send
(DynamoDB's JSON protocol names the operation in ``X-Amz-Target``). When armed, the
first request of the chosen operation whose body contains a marker (a key prefix such
as ``OIDCCODE#``) is passed on in full, and DynamoDB Local is then stopped with
SIGSTOP for the chosen time and resumed with SIGCONT: the write sits in the store's
socket, unanswered, and is applied when the store resumes, exactly what a store that
hangs does to a request in flight. Everything else is relayed untouched.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class Trigger:
    operation: str  # e.g. "UpdateItem", "TransactWriteItems"
    marker: bytes  # a byte string the request body must contain
    seconds: float  # how long the store stays frozen
    fired: threading.Event


class FreezingProxy:
    def __init__(self, target_port: int, store_pid: int):
        self.target_port = target_port
        self.store_pid = store_pid
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._trigger: Trigger | None = None
        self._lock = threading.Lock()
        self._frozen_until = 0.0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, operation: str, marker: bytes | str, seconds: float) -> threading.Event:
        """Freeze the store for ``seconds`` right after the next matching request."""
        fired = threading.Event()
        with self._lock:
            self._trigger = Trigger(operation, marker.encode() if isinstance(marker, str) else marker, seconds, fired)
        return fired

    def disarm(self) -> None:
        with self._lock:
            self._trigger = None

    def wait_thawed(self) -> None:
        while time.time() < self._frozen_until + 0.2:
            time.sleep(0.05)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        try:
            os.kill(self.store_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    # -- relaying ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client → store, one whole HTTP request at a time (botocore sends a
        Content-Length and keeps the connection alive)."""
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0"))
                while len(rest) < length:
                    data = client.recv(65536)
                    if not data:
                        return
                    rest += data
                body, buffer = rest[:length], rest[length:]
                upstream.sendall(head + b"\r\n\r\n" + body)
                operation = headers.get(b"x-amz-target", b"").decode().rpartition(".")[2]
                self._maybe_freeze(operation, body)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _maybe_freeze(self, operation: str, body: bytes) -> None:
        with self._lock:
            trigger = self._trigger
            if trigger is None or trigger.operation != operation or trigger.marker not in body:
                return
            self._trigger = None
        os.kill(self.store_pid, signal.SIGSTOP)
        self._frozen_until = time.time() + trigger.seconds
        trigger.fired.set()
        threading.Timer(trigger.seconds, os.kill, (self.store_pid, signal.SIGCONT)).start()
