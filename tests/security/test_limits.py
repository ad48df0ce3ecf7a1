"""Abuse limits: per-device rate limit (429 + Retry-After), body size (413), bill count (422)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from integrator import jsonutil
from integrator.app import create_app
from integrator.services import services_of
from integrator.settings import Settings
from tests.e2e.conftest import Pos, body_of


@pytest.fixture
def strict_app(e2e_settings: Settings, redis: Any, sandbox: str) -> Iterator[Flask]:
    app = create_app(e2e_settings.with_changes(device_rate_limit_per_minute=3))
    yield app
    services_of(app).redis.close()


def test_a_device_over_its_rate_limit_gets_429_with_retry_after(strict_app: Flask) -> None:
    devices = services_of(strict_app).devices
    _device, key = devices.add("chatty", ["pb"])
    _device, other_key = devices.add("quiet", ["pb"])
    client = strict_app.test_client()

    def lookup(k: str) -> Any:
        return client.get(
            "/v1/payments?idempotencyKey=k1", headers={"Authorization": f"Bearer {k}"}
        )

    statuses = [lookup(key).status_code for _ in range(3)]
    limited = lookup(key)

    assert statuses == [404, 404, 404]
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert lookup(other_key).status_code == 404  # the limit is per device


def test_a_body_over_the_limit_is_refused_with_413(pos: Pos, e2e_settings: Settings) -> None:
    padding = "x" * (e2e_settings.max_body_bytes + 1024)
    body = {"tenantId": "pb.amritsar", "paymentMode": "CASH", "paidBy": padding, "bills": []}
    response = requests.post(
        f"{pos.base}/v1/payments/validate",
        data=jsonutil.dumps(body),
        headers=pos.headers(),
        timeout=30,
    )
    assert response.status_code == 413
    assert body_of(response)["code"] == "PAYLOAD_TOO_LARGE"


def test_more_than_twenty_bills_are_refused_with_422(pos: Pos) -> None:
    body = {
        "tenantId": "pb.amritsar",
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "bills": [{"billId": f"BILL-{i}", "amount": 100} for i in range(21)],
    }
    for response in (pos.validate(body), pos.pay(body, key="too-many")):
        assert response.status_code == 422, response.text
        problem = body_of(response)
        assert any(e["field"] == "bills" for e in problem["errors"]), problem
