"""DIGIT's kept-alive connections: one the server closed without saying so is never reused, and
the check that finds out is the cheap one (integrator.socket_ready). A real local socket server
plays a gateway that drops idle connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from integrator.digit import http
from integrator.digit.http import Transport, build_session
from integrator.settings import Settings

BODY = b'{"ResponseInfo":null,"Bill":[]}'


class DroppingServer:
    """Answers one request per connection as keep-alive, then closes it; counts connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = threading.Semaphore(0)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
                    + BODY
                )
            self.closed.release()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[DroppingServer]:
    made = DroppingServer()
    yield made
    made.close()


def _transport(port: int) -> Transport:
    settings = Settings.from_env(
        {
            "DIGIT_BASE_URL": f"http://127.0.0.1:{port}",
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "u",
            "DIGIT_PASSWORD": "p",
            "DIGIT_TENANT_ID": "pb.amritsar",
        }
    )
    return Transport(settings=settings, session=build_session(settings))


def test_a_connection_the_gateway_closed_is_replaced_not_reused(
    server: DroppingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []
    real = http.readable_now
    monkeypatch.setattr(http, "readable_now", lambda sock: asked.append(real(sock)) or asked[-1])
    transport = _transport(server.port)

    for _ in range(3):
        answer = transport.send("billing-service/bill/v2/_fetchbill", json_body={})
        assert answer.status == 200 and answer.body == {"ResponseInfo": None, "Bill": []}
        assert server.closed.acquire(timeout=5)  # the gateway has dropped it before the next

    assert server.connections == 3
    # each reuse was considered and refused because the socket read as closed
    assert asked == [True, True]
