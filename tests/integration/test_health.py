"""/healthz and /readyz against a real Redis; DIGIT faked here (and real over the sandbox below)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib
from flask import Flask

from integrator.app import create_app
from integrator.digit.models import AuthState
from integrator.digit.roles import CapabilityRow
from integrator.services import services_of
from integrator.settings import Settings
from tests.support.offline import offline_settings
from tests.support.processes import redis_server

PASSWORD = "health-test-password"
TOKEN = "0b7c1f9e-5a1d-4f7e-9c3b-2d8e6f4a1b90"


class FakeDigit:
    """Stands in for DigitClient's ping()/auth_state()."""

    def __init__(
        self,
        *,
        reachable: bool = True,
        ping_delay: float = 0.0,
        ping_error: Exception | None = None,
        state: AuthState | None = None,
    ) -> None:
        self.reachable = reachable
        self.ping_delay = ping_delay
        self.ping_error = ping_error
        self.released = threading.Event()
        self.state = state or AuthState(
            has_token=True, expires_at=datetime(2030, 1, 1, tzinfo=UTC), locked=False
        )
        self.token = TOKEN  # what a real client holds; must never reach the body

    def ping(self) -> bool:
        if self.ping_delay:
            self.released.wait(self.ping_delay)
        if self.ping_error is not None:
            raise self.ping_error
        return self.reachable

    def auth_state(self) -> AuthState:
        return self.state

    def capabilities(self) -> list[CapabilityRow]:
        return [
            CapabilityRow(
                tenant_id="pb.amritsar",
                module="WS",
                may_search=True,
                may_create=True,
                may_cancel=False,
            ),
            CapabilityRow(
                tenant_id="pb.nawanshahr",
                module="WS",
                may_search=False,
                may_create=False,
                may_cancel=False,
            ),
        ]


LEDGER = {"url": ""}  # the session's ledger, set by the autouse fixture below


@pytest.fixture(autouse=True)
def _ledger(database_url: str) -> None:
    LEDGER["url"] = database_url


def settings_for(redis_url: str) -> Settings:
    return offline_settings(redis_url, password=PASSWORD, database_url=LEDGER["url"])


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def app_with(redis_url: str, digit: FakeDigit) -> Flask:
    app = create_app(settings_for(redis_url))
    services_of(app).use_digit(digit)  # type: ignore[arg-type]
    return app


def test_healthz_is_200_and_cheap(redis_url: str) -> None:
    client = app_with(redis_url, FakeDigit(reachable=False)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_redis_and_digit_auth_without_secrets(redis_url: str) -> None:
    client = app_with(redis_url, FakeDigit()).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["ledger"], body["redis"]) == ("ok", "ok")
    assert body["digit"] == {
        "reachable": True,
        "auth": {
            "has_token": True,
            "expires_at": "2030-01-01T00:00:00+00:00",
            "locked": False,
            "locked_reason": None,
            "lock_kind": None,
            "locked_until": None,
        },
        "cities": [
            {
                "tenantId": "pb.amritsar",
                "module": "WS",
                "maySearch": True,
                "mayCreate": True,
                "mayCancel": False,
                "inMdms": None,
            },
            {
                "tenantId": "pb.nawanshahr",
                "module": "WS",
                "maySearch": False,
                "mayCreate": False,
                "mayCancel": False,
                "inMdms": None,
            },
        ],
    }
    text = response.get_data(as_text=True)
    assert TOKEN not in text
    assert PASSWORD not in text


def test_readyz_is_200_while_digit_is_down_or_locked(redis_url: str) -> None:
    locked = AuthState(
        has_token=False, expires_at=None, locked=True, locked_reason="bad credentials"
    )
    client = app_with(redis_url, FakeDigit(reachable=False, state=locked)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    digit = response.get_json()["digit"]
    assert digit["reachable"] is False
    assert digit["auth"]["locked"] is True
    assert digit["auth"]["locked_reason"] == "bad credentials"


def test_readyz_treats_a_failing_ping_as_unreachable(redis_url: str) -> None:
    client = app_with(redis_url, FakeDigit(ping_error=ConnectionError("boom"))).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["digit"]["reachable"] is False


def test_readyz_stays_fast_when_digit_hangs(redis_url: str) -> None:
    hanging = FakeDigit(ping_delay=30)
    client = app_with(redis_url, hanging).test_client()
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        hanging.released.set()
    assert response.status_code == 200
    assert response.get_json()["digit"]["reachable"] is False
    assert elapsed < 3.5


def test_readyz_is_503_when_redis_is_gone(tmp_path: Path) -> None:
    with redis_server(tmp_path) as (url, _proc):
        client = app_with(url, FakeDigit()).test_client()
        assert client.get("/readyz").status_code == 200
    response = client.get("/readyz")  # the server has been stopped
    assert response.status_code == 503
    body = json.loads(response.get_data(as_text=True))
    assert body["redis"].startswith("error")
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_readyz_is_503_when_the_ledger_is_gone(redis_url: str) -> None:
    from integrator.store.db import Database
    from tests.support.processes import free_port

    app = app_with(redis_url, FakeDigit())
    services = services_of(app)
    services.db = Database.connect(f"postgresql://nobody@127.0.0.1:{free_port()}/x", max_size=1)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["ledger"].startswith("error")


def test_readyz_is_503_when_redis_refuses_writes(tmp_path: Path) -> None:
    with redis_server(tmp_path) as (url, _proc):
        client = app_with(url, FakeDigit()).test_client()
        admin = redis_lib.Redis.from_url(url)
        admin.config_set("maxmemory", "1")  # noeviction + full: every write is refused (OOM)
        try:
            response = client.get("/readyz")
        finally:
            admin.config_set("maxmemory", "0")
            admin.close()
    assert response.status_code == 503


def test_readyz_over_the_real_sandbox(settings: Settings, sandbox: str) -> None:
    pytest.importorskip("integrator.digit.client")
    app = create_app(settings)
    client = app.test_client()
    services_of(app).digit.ensure_token()  # a first login brings the account's roles
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["digit"]["reachable"] is True
    assert set(body["digit"]["auth"]) == {
        "has_token",
        "expires_at",
        "locked",
        "locked_reason",
        "lock_kind",
        "locked_until",
    }
    # the account's roles per city, from the sandbox's seed: none in Nawanshahr
    cities = {(c["tenantId"], c["module"]): c for c in body["digit"]["cities"]}
    assert cities[("pb.amritsar", "WS")]["mayCreate"] is True
    assert cities[("pb.nawanshahr", "WS")]["mayCreate"] is False
    assert settings.digit_password not in response.get_data(as_text=True)
