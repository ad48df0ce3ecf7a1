"""End-to-end fixtures: the integrator over real HTTP, the DIGIT sandbox over real HTTP, a real
Redis, and a registered device with its key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from integrator import jsonutil
from integrator.app import create_app
from integrator.services import Services, services_of
from integrator.settings import Settings
from tests.support.live_app import serve


@dataclass
class Pos:
    """A PoS device talking to the integrator over HTTP."""

    base: str
    key: str

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.base}{path}", params=params, headers=self.headers(), timeout=30)

    def pay(self, body: dict[str, Any], key: str) -> requests.Response:
        return requests.post(
            f"{self.base}/v1/payments",
            data=jsonutil.dumps(body),
            headers=self.headers(key),
            timeout=30,
        )

    def validate(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.base}/v1/payments/validate",
            data=jsonutil.dumps(body),
            headers=self.headers(),
            timeout=30,
        )

    def bills(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/v1/bills", **params)
        assert response.status_code == 200, response.text
        bills: list[dict[str, Any]] = jsonutil.loads(response.content)["bills"]
        return bills


def body_of(response: requests.Response) -> Any:
    return jsonutil.loads(response.content)


class Sandbox:
    """The sandbox's admin controls."""

    def __init__(self, base: str) -> None:
        self.base = base

    def admin(self, path: str, **body: Any) -> Any:
        response = requests.post(
            f"{self.base}/_sandbox/{path}",
            data=jsonutil.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        response.raise_for_status()
        return body_of(response)

    def faults(self, **faults: Any) -> Any:
        return self.admin("faults", **faults)

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = body_of(
            requests.get(f"{self.base}/_sandbox/counters", timeout=10)
        )
        return counters

    def payments(self) -> list[dict[str, Any]]:
        found = body_of(requests.get(f"{self.base}/_sandbox/payments", timeout=10))
        return list(found["Payments"] if isinstance(found, dict) else found)

    def payments_for_bill(self, bill_id: str) -> list[dict[str, Any]]:
        return [
            p for p in self.payments() if any(d["billId"] == bill_id for d in p["paymentDetails"])
        ]

    def pass_backupdate_lag(self) -> None:
        self.admin("clock", advance_seconds=60)


@pytest.fixture
def e2e_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # Short DIGIT timeouts and leases so outcome-unknown paths run in seconds, not minutes.
    changes: dict[str, Any] = {
        "digit_read_timeout": 2.0,
        "registration_budget_seconds": 3.0,
        "lease_ttl_seconds": 3.0,
    }
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        changes.update(marker.kwargs)
    return settings.with_changes(**changes)


@pytest.fixture
def app(e2e_settings: Settings, redis: Any, sandbox: str) -> Iterator[Flask]:
    app = create_app(e2e_settings)
    yield app
    services_of(app).redis.close()


@pytest.fixture
def services(app: Flask) -> Services:
    return services_of(app)


@pytest.fixture
def live(app: Flask, services: Services) -> Iterator[str]:
    with serve(app) as base:
        yield base


@pytest.fixture
def pos(live: str, services: Services) -> Pos:
    _device, key = services.devices.add("pos-amritsar-1", ["pb"])
    return Pos(base=live, key=key)


@pytest.fixture
def other_pos(live: str, services: Services) -> Pos:
    _device, key = services.devices.add("pos-amritsar-2", ["pb.amritsar"])
    return Pos(base=live, key=key)


@pytest.fixture
def world(sandbox: str) -> Sandbox:
    return Sandbox(sandbox)
