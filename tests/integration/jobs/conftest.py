"""Registration worker fixtures: real `integrator worker` processes, a real ledger and Redis,
the sandbox over HTTP, every schedule shortened through the environment."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests

from integrator.digit.client import DigitClient
from integrator.payments.models import HistoryEntry, Payment, PaymentBill, PaymentStatus
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.payments import CreateOutcome, PaymentStore
from tests.support.workers import worker_processes

WS = ("WS", "WS/107/2019-20/000022")
TL = ("TL", "PB-TL-2024-07-04-002271")


@pytest.fixture
def job_env(redis_url: str, sandbox: str, database_url: str, db: Database) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DIGIT_BASE_URL": sandbox,
        "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
        "DIGIT_PASSWORD": "sandbox-password",
        "DIGIT_TENANT_ID": "pb.amritsar",
        "REDIS_URL": redis_url,
        "DIGIT_CONNECT_TIMEOUT": "0.5",
        "DIGIT_READ_TIMEOUT": "2",
        "LEASE_TTL_SECONDS": "3",
        "RETRY_SCHEDULE_SECONDS": "1,2",
        "RETRY_MAX_AGE_SECONDS": "600",
        "AUTH_BLOCKED_RETRY_SECONDS": "1",
        "SWEEPER_PERIOD_SECONDS": "1",
        "DIGIT_PROBE_SECONDS": "0.5",
        "REGISTRATION_JOB_TIMEOUT_SECONDS": "8",
        "WORKER_MAINTENANCE_SECONDS": "5",
        "LOG_LEVEL": "INFO",
        # webhooks go to a receiver on 127.0.0.1 in these tests
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }


@pytest.fixture
def job_settings(job_env: dict[str, str]) -> Settings:
    return Settings.from_env(job_env, dotenv=False)


@pytest.fixture
def digit(job_settings: Settings, redis: redis_lib.Redis) -> DigitClient:
    return DigitClient(settings=job_settings, redis=redis)


@pytest.fixture
def store(db: Database) -> PaymentStore:
    return PaymentStore(db)


@pytest.fixture
def workers(
    job_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `integrator worker` processes (what the Procfile runs), stopped afterwards."""
    with worker_processes(job_env, tmp_path) as start:
        yield start


def make_pending(
    digit: DigitClient,
    store: PaymentStore,
    consumer: tuple[str, str] = WS,
    *,
    amount: Decimal | None = None,
) -> Payment:
    """A PENDING payment on the consumer's real current bill, stored like the API stores it."""
    service, code = consumer
    bill = digit.fetch_bills(tenant_id="pb.amritsar", business_service=service, consumer_code=code)[
        0
    ]
    now = datetime.now(UTC)
    pid = f"pay_{os.urandom(8).hex()}"
    payment = Payment(
        id=pid,
        device_id="dev-1",
        idempotency_key=f"key-{pid}",
        fingerprint="fp",
        status=PaymentStatus.PENDING,
        tenant_id="pb.amritsar",
        payment_mode="CASH",
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number="9876543210",
        instrument_number=None,
        instrument_date=None,
        transaction_number=None,
        collected_at=now,
        bills=(
            PaymentBill(
                bill_id=bill.id,
                bill_number=bill.bill_number,
                consumer_code=code,
                business_service=service,
                amount=amount or bill.total_amount,
                total_due=bill.total_amount,
            ),
        ),
        created_at=now,
        history=(
            HistoryEntry(
                at=now, actor="device:dev-1", event="accepted", to_status=PaymentStatus.PENDING
            ),
        ),
    )
    assert store.create(payment).outcome is CreateOutcome.CREATED
    return payment


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_status(
    store: PaymentStore, payment_id: str, status: PaymentStatus, *, timeout: float = 20
) -> Payment:
    def check() -> Payment | None:
        p = store.get(payment_id)
        return p if p is not None and p.status is status else None

    try:
        return wait_until(check, timeout=timeout, what=f"{payment_id} {status}")  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"payment is {store.get(payment_id)}") from None


def faults(sandbox: str, **values: Any) -> None:
    requests.post(f"{sandbox}/_sandbox/faults", json=values, timeout=5).raise_for_status()


def digit_payments_for(sandbox: str, bill_ids: set[str]) -> list[dict[str, Any]]:
    found = requests.get(f"{sandbox}/_sandbox/payments", timeout=5).json()["Payments"]
    return [p for p in found if any(d["billId"] in bill_ids for d in p["paymentDetails"])]
