"""Every DIGIT exchange ends by its wall-clock deadline, even when the answer trickles in a byte
at a time (each byte well within the read timeout); and the settings refuse a lease shorter than
that deadline. A real local socket server plays DIGIT."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from integrator.digit.errors import DigitUnavailable
from integrator.digit.http import Transport, build_session
from integrator.settings import Settings, SettingsError

BODY = b'{"ResposneInfo":null,"Bill":[]}'


class TrickleServer:
    """Answers every request with HTTP 201 and `BODY`, sending the body one byte every
    `gap` seconds (the headers at once)."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
            )
            for byte in BODY:
                if self.stopped.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(self.gap)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    server = TrickleServer(gap=0.1)  # the whole body takes about 3 s
    yield server
    server.close()


def _settings(port: int, **env: str) -> Settings:
    return Settings.from_env(
        {
            "DIGIT_BASE_URL": f"http://127.0.0.1:{port}",
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "u",
            "DIGIT_PASSWORD": "p",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "DIGIT_CONNECT_TIMEOUT": "1",
            "DIGIT_READ_TIMEOUT": "2",  # far more than the 0.1 s between two bytes
            **env,
        }
    )


def test_a_trickling_answer_is_cut_at_the_call_deadline(trickle):
    settings = _settings(trickle.port, DIGIT_CALL_DEADLINE_SECONDS="0.8")
    transport = Transport(settings=settings, session=build_session(settings))

    started = time.monotonic()
    with pytest.raises(DigitUnavailable, match="timed out"):
        transport.send("billing-service/bill/v2/_fetchbill", json_body={"RequestInfo": {}})
    elapsed = time.monotonic() - started

    assert 0.7 <= elapsed < 1.3  # the deadline, not the read timeout, not the whole trickle


def test_a_callers_earlier_deadline_wins(trickle):
    settings = _settings(trickle.port, DIGIT_CALL_DEADLINE_SECONDS="10")
    transport = Transport(settings=settings, session=build_session(settings))

    started = time.monotonic()
    with pytest.raises(DigitUnavailable):
        transport.send("x", json_body={}, deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 1.0


def test_an_answer_within_the_deadline_is_read_whole():
    server = TrickleServer(gap=0.005)
    try:
        settings = _settings(server.port, DIGIT_CALL_DEADLINE_SECONDS="3")
        transport = Transport(settings=settings, session=build_session(settings))
        answer = transport.send("billing-service/bill/v2/_fetchbill", json_body={})
        assert answer.status == 201 and answer.body == {"ResposneInfo": None, "Bill": []}
        # nothing of the first exchange is left behind: a second one works too
        assert transport.send("x", json_body={}).status == 201
    finally:
        server.close()


def test_the_call_deadline_defaults_to_connect_plus_read_timeout():
    settings = _settings(1)
    assert settings.digit_call_deadline_seconds == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({"DIGIT_READ_TIMEOUT": "20", "DIGIT_CONNECT_TIMEOUT": "3.05"}, True),  # 30 > 23.05
        ({"LEASE_TTL_SECONDS": "24", "DIGIT_CALL_DEADLINE_SECONDS": "23"}, True),
        ({"LEASE_TTL_SECONDS": "23", "DIGIT_CALL_DEADLINE_SECONDS": "23"}, False),
        ({"LEASE_TTL_SECONDS": "4", "DIGIT_READ_TIMEOUT": "2"}, False),  # 4 < 3.05 + 2
    ],
)
def test_the_lease_must_outlive_the_call_deadline(env, ok):
    base = {
        "DIGIT_BASE_URL": "https://digit.test",
        "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
        "DIGIT_USERNAME": "u",
        "DIGIT_PASSWORD": "p",
        "DIGIT_TENANT_ID": "pb.amritsar",
        "DIGIT_CONNECT_TIMEOUT": "3.05",
    }
    if ok:
        Settings.from_env({**base, **env})
    else:
        with pytest.raises(SettingsError) as err:
            Settings.from_env({**base, "DIGIT_CONNECT_TIMEOUT": "3.05", **env})
        assert "LEASE_TTL_SECONDS" in str(err.value)
        assert "DIGIT_CALL_DEADLINE_SECONDS" in str(err.value)
