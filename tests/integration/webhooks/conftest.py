"""Webhook fixtures: a tiny receiving HTTP server, worker processes with the webhook observer,
payments of a real device, and the registration fixtures of tests/integration/jobs."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from integrator.digit.client import DigitClient
from integrator.jobs import context
from integrator.jobs.context import JobContext
from integrator.payments.models import HistoryEntry, Payment, PaymentBill, PaymentStatus
from integrator.settings import Settings
from integrator.store.payments import CreateOutcome, PaymentStore
from integrator.webhooks.targets import TargetPolicy
from tests.integration.jobs.conftest import (  # noqa: F401 (fixtures)
    WS,
    digit,
    job_env,
    job_settings,
    store,
)
from tests.support.workers import worker_processes

#: The receiver listens on 127.0.0.1: what WEBHOOK_ALLOW_PRIVATE_TARGETS=true (job_env) allows.
LOCAL_TARGETS = TargetPolicy(allow_private=True)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records each POST; answers with `statuses` in turn (then 200)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            self.received.append(Received(dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)


@pytest.fixture
def webhook_settings(job_env: dict[str, str]) -> Settings:  # noqa: F811
    return Settings.from_env({**job_env, "WEBHOOK_RETRY_SECONDS": "1"}, dotenv=False)


@pytest.fixture
def job_context(webhook_settings: Settings) -> Iterator[JobContext]:
    """The in-process worker's job context (what `integrator worker` configures)."""
    context.reset()
    yield context.configure(webhook_settings)
    context.reset()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = make_server("127.0.0.1", 0, found.app, threaded=True)
    found.url = f"http://127.0.0.1:{server.server_port}/hooks/digit"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


@pytest.fixture
def webhook_workers(
    job_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `integrator worker` processes (registration + webhooks), logging to tmp_path."""
    with worker_processes(job_env, tmp_path) as start:
        yield start


def make_device_payment(
    digit: DigitClient,  # noqa: F811
    store: PaymentStore,  # noqa: F811
    device_id: str,
    consumer: tuple[str, str] = WS,
) -> Payment:
    """A PENDING payment of `device_id` on the consumer's real current bill."""
    service, code = consumer
    bill = digit.fetch_bills(tenant_id="pb.amritsar", business_service=service, consumer_code=code)[
        0
    ]
    now = datetime.now(UTC)
    pid = f"pay_{os.urandom(8).hex()}"
    payment = Payment(
        id=pid,
        device_id=device_id,
        idempotency_key=f"key-{pid}",
        fingerprint="fp",
        status=PaymentStatus.PENDING,
        tenant_id="pb.amritsar",
        payment_mode="CASH",
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number=None,
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
                amount=bill.total_amount,
                total_due=bill.total_amount,
            ),
        ),
        created_at=now,
        history=(
            HistoryEntry(
                at=now,
                actor=f"device:{device_id}",
                event="accepted",
                to_status=PaymentStatus.PENDING,
            ),
        ),
    )
    assert store.create(payment).outcome is CreateOutcome.CREATED
    return payment
