"""Cancellation fixtures: the integrator over real HTTP, real `integrator worker` processes (the
dues job, webhooks), the DIGIT sandbox over real HTTP, a device with a webhook receiver, and
payments a device made and DIGIT registered."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
from flask import Flask

from integrator import jsonutil
from integrator.app import create_app
from integrator.payments.cancellation import Cancellations, Operator
from integrator.services import Services, services_of
from integrator.settings import Settings
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.integration.jobs.conftest import job_env as job_env
from tests.integration.webhooks.conftest import Receiver
from tests.integration.webhooks.conftest import receiver as receiver
from tests.support.live_app import serve
from tests.support.workers import worker_processes

AMRITSAR = "pb.amritsar"
PT_RAMESH = "PT-107-000123"  # Ramesh, Amritsar: two financial years of property tax
WS_RAMESH = "WS/107/2019-20/000022"
ASHA = Operator(name="asha", may_act=True)
RAVI = Operator(name="ravi", may_act=True)
VIEWER = Operator(name="vic", may_act=False)
#: Short waits between looks for the re-opened bill (the sandbox's back-update lag is 1 s).
DUES_POLLS = "1,1,1,1,1,1,1,1"


@pytest.fixture
def cancel_env(job_env: dict[str, str]) -> dict[str, str]:
    return {
        **job_env,
        "CANCELLATION_DUES_POLL_SECONDS": DUES_POLLS,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
    }


@pytest.fixture
def cancel_settings(cancel_env: dict[str, str]) -> Settings:
    return Settings.from_env(cancel_env, dotenv=False).with_changes(registration_budget_seconds=3.0)


@pytest.fixture
def app(cancel_settings: Settings, redis: redis_lib.Redis, sandbox: str) -> Iterator[Flask]:
    app = create_app(cancel_settings)
    yield app
    services_of(app).redis.close()


@pytest.fixture
def services(app: Flask) -> Services:
    return services_of(app)


@pytest.fixture
def cancellations(services: Services) -> Cancellations:
    return services.cancellations


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    with serve(app) as base:
        yield base


@pytest.fixture
def world(sandbox: str) -> Sandbox:
    return Sandbox(sandbox)


@dataclass
class Device:
    pos: Pos
    device_id: str


@pytest.fixture
def device(live: str, services: Services) -> Device:
    found, key = services.devices.add("pos-amritsar-counter", ["pb"])
    return Device(pos=Pos(base=live, key=key), device_id=found.id)


@pytest.fixture
def hooked_device(device: Device, services: Services, receiver: Receiver) -> Device:
    services.webhooks.set(device.device_id, receiver.url)
    return device


@pytest.fixture
def workers(
    cancel_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    with worker_processes(cancel_env, tmp_path) as start:
        yield start


def current_bill(pos: Pos, consumer: str = PT_RAMESH, service: str = "PT") -> dict[str, Any]:
    bills = pos.bills(tenantId=AMRITSAR, businessService=service, consumerCode=consumer)
    assert len(bills) == 1, bills
    return bills[0]


_keys = iter(range(1, 10**9))


def pay(
    pos: Pos,
    consumer: str = PT_RAMESH,
    service: str = "PT",
    amount: Decimal | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The device pays the consumer's current bill (in full unless `amount`); REGISTERED."""
    bill = current_bill(pos, consumer, service)
    body: dict[str, Any] = {
        "tenantId": AMRITSAR,
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "payerName": "Ramesh Kumar",
        "bills": [{"billId": bill["billId"], "amount": amount or bill["totalAmount"]}],
        **overrides,
    }
    response = pos.pay(body, key=f"cancel-test-{next(_keys)}")
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = body_of(response)
    return payment


def ask_to_cancel(pos: Pos, payment_id: str, reason: str = "Wrong consumer") -> requests.Response:
    return requests.post(
        f"{pos.base}/v1/payments/{payment_id}/cancellation",
        data=jsonutil.dumps({"reason": reason}),
        headers=pos.headers(),
        timeout=30,
    )
