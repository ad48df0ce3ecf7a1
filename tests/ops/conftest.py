"""Ops console fixtures: the integrator (with the console) over real HTTP, a real Redis, the DIGIT
sandbox over real HTTP, ops accounts, and payments made straight in the store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.security import generate_password_hash

from integrator.app import create_app
from integrator.ops import init_ops
from integrator.ops.wiring import build_operations
from integrator.payments import states
from integrator.payments.models import Payment, PaymentBill, PaymentStatus
from integrator.payments.operations import PaymentOperations
from integrator.services import Services, services_of
from integrator.settings import Settings
from tests.e2e.conftest import Sandbox
from tests.support.live_app import serve

AMRITSAR = "pb.amritsar"
WS_RAMESH = "WS/107/2019-20/000022"
SW_RAMESH = "SW/107/2019-20/000011"
RAMESH_MOBILE = "9876543210"
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-12"}
SECRET_KEY = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def ops_users() -> tuple[str, ...]:
    # a cheap hash method: the tests check the flow, not the hash's cost
    def entry(name: str, role: str) -> str:
        digest = generate_password_hash(PASSWORDS[name], method="pbkdf2:sha256:1000")
        return f"{name}:{role}:{digest}"

    return (entry("alice", "operator"), entry("bob", "viewer"))


@pytest.fixture
def ops_settings(settings: Settings, ops_users: tuple[str, ...]) -> Settings:
    return settings.with_changes(
        secret_key=SECRET_KEY,
        ops_users=ops_users,
        digit_read_timeout=2.0,
        registration_budget_seconds=3.0,
        lease_ttl_seconds=3.0,
    )


@pytest.fixture
def app(ops_settings: Settings, redis: Any, sandbox: str) -> Iterator[Flask]:
    app = create_app(ops_settings)
    if "ops" not in app.blueprints:  # until create_app wires the console itself
        init_ops(app, services_of(app))
    yield app
    services_of(app).redis.close()


@pytest.fixture
def services(app: Flask) -> Services:
    return services_of(app)


@pytest.fixture
def operations(services: Services) -> PaymentOperations:
    return build_operations(services)


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    with serve(app) as base:
        yield base


@pytest.fixture
def world(sandbox: str) -> Sandbox:
    return Sandbox(sandbox)


_counter = iter(range(1, 10**9))


def make_payment(
    services: Services,
    *,
    consumer_code: str = WS_RAMESH,
    business_service: str = "WS",
    status: PaymentStatus = PaymentStatus.NEEDS_ATTENTION,
    amount: Decimal = Decimal(815),
    bill_id: str | None = None,
    created_at: datetime | None = None,
    mobile_number: str | None = RAMESH_MOBILE,
    **overrides: Any,
) -> Payment:
    """A payment stored as the PoS API would have made it, moved on to `status`.

    The bill is the consumer's current bill in the sandbox unless `bill_id` is given.
    """
    n = next(_counter)
    if bill_id is None:
        bills = services.digit.fetch_bills(
            tenant_id=AMRITSAR, business_service=business_service, consumer_code=consumer_code
        )
        bill_id = bills[0].id
    created = created_at or datetime.now(UTC)
    payment = Payment(
        id=f"pay-test-{n:06d}",
        device_id="dev-1",
        idempotency_key=f"key-{n:06d}",
        fingerprint="f" * 64,
        status=PaymentStatus.PENDING,
        tenant_id=AMRITSAR,
        payment_mode="CASH",
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number=mobile_number,
        instrument_number=None,
        instrument_date=None,
        transaction_number=None,
        collected_at=created,
        bills=(
            PaymentBill(
                bill_id=bill_id,
                bill_number=f"BILL-{n}",
                consumer_code=consumer_code,
                business_service=business_service,
                amount=amount,
                total_due=amount,
            ),
        ),
        created_at=created,
    )
    payment = replace(payment, **overrides)
    store = services.payments_store
    result = store.create(payment)
    assert result.outcome.value == "CREATED", result
    payment = replace(payment, version=0)
    if status is PaymentStatus.PENDING:
        return store.get(payment.id) or payment
    if status is PaymentStatus.NEEDS_ATTENTION:
        moved = states.transition(
            states.mark_create_sent(payment, payment.bill_ids, actor="worker", at=created),
            PaymentStatus.NEEDS_ATTENTION,
            actor="worker",
            reason="DIGIT_REJECTED",
            at=created,
            codes=("SOME_CODE",),
            latency_ms=42,
        )
    else:
        moved = states.transition(payment, status, actor="worker", reason="created", at=created)
    return services.payments_store.save(moved, fence=None)


def counter_payment(
    world: Sandbox, consumer_code: str = WS_RAMESH, business_service: str = "WS"
) -> dict[str, Any]:
    """Pay the consumer's current bill at DIGIT's counter (someone else's payment)."""
    found = world.admin(
        "counter-payment",
        tenantId=AMRITSAR,
        businessService=business_service,
        consumerCode=consumer_code,
    )
    payment: dict[str, Any] = found["Payments"][0]
    return payment


# --- a signed-in HTTP client (requests), for what a browser cannot do ---

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def signed_in(base: str, name: str) -> tuple[requests.Session, str]:
    """A requests session signed in as `name`, and its CSRF token."""
    http = requests.Session()
    page = http.get(f"{base}/ops/login", timeout=10)
    answer = http.post(
        f"{base}/ops/login",
        data={
            "username": name,
            "password": PASSWORDS[name],
            "csrf_token": csrf_of(page.text),
        },
        timeout=10,
    )
    assert answer.status_code == 200 and f"{name} (" in answer.text, answer.text[:500]
    return http, csrf_of(answer.text)
