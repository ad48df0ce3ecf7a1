"""An operator closes a payment (RESOLVED): the device's webhook is sent `payment.resolved` by a
real worker process, signed, once, showing how it was closed; a refused closing sends nothing."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from rq import Queue

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.jobs.scheduling import WEBHOOKS_QUEUE
from integrator.ops.wiring import build_operations
from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.operations import OperationRefused, PaymentOperations, Resolution
from integrator.services import Services
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.signing import verify
from tests.e2e.conftest import Sandbox
from tests.integration.jobs.conftest import WS, wait_until
from tests.integration.webhooks.conftest import LOCAL_TARGETS, Receiver, make_device_payment
from tests.support.secrets_guard import SecretsGuard

Workers = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def operations(
    job_settings: Settings, db: Database, redis: redis_lib.Redis
) -> Iterator[PaymentOperations]:
    """The operator's use cases as the console and the CLI build them (the process's observer
    included), over the test's ledger and Redis."""
    services = Services.build(job_settings, db=db, redis=redis)
    yield build_operations(services)


def needs_attention(digit: DigitClient, store: PaymentStore, device_id: str) -> Payment:
    """The device's payment of WS's current bill, stopped for an operator (DIGIT refused it)."""
    pending = make_device_payment(digit, store, device_id)
    stopped = states.transition(
        pending,
        PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="DIGIT_REJECTED",
        at=pending.created_at,
        codes=("INVALID_BILL_ID",),
    )
    return store.save(stopped, fence=None)


def test_a_payment_receipted_by_hand_is_posted_as_payment_resolved(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    sandbox: str,
    operations: PaymentOperations,
    receiver: Receiver,
    webhook_workers: Workers,
    secrets_guard: SecretsGuard,
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    secret = WebhookStore(db, targets=LOCAL_TARGETS).set(device.id, receiver.url).secret
    secrets_guard.add(secret, "webhook-secret")
    webhook_workers()
    payment = needs_attention(digit, store, device.id)
    counter = Sandbox(sandbox).admin(
        "counter-payment", tenantId="pb.amritsar", businessService=WS[0], consumerCode=WS[1]
    )
    receipt = counter["Payments"][0]["paymentDetails"][0]["receiptNumber"]

    operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=receipt,
        note="the clerk took it at the counter",
    )

    wait_until(lambda: receiver.received, timeout=15, what="a webhook POST")
    time.sleep(1.5)  # a second POST would have come by now
    assert len(receiver.received) == 1
    posted = receiver.received[0]
    assert posted.headers["X-Integrator-Event"] == "payment.resolved"
    assert verify(secret, posted.headers["X-Integrator-Signature"], posted.body, now=time.time())
    body = jsonutil.loads(posted.body)
    assert body["event"] == "payment.resolved" and body["occurredAt"]
    sent = body["payment"]
    assert (sent["id"], sent["status"]) == (payment.id, "RESOLVED")
    assert sent["resolution"]["kind"] == "RECEIPTED_BY_HAND"
    assert sent["resolution"]["receiptNumber"] == receipt
    assert sent["resolution"]["resolvedAt"].endswith("+05:30")
    assert [r["receiptNumber"] for r in sent["receipts"]] == [receipt]
    assert b"alice" not in posted.body and b"the clerk took it" not in posted.body
    log = WebhookStore(db).deliveries(payment.id)
    assert [(r.event, r.outcome, r.attempt) for r in log] == [("payment.resolved", "delivered", 1)]


def test_a_refused_closing_sends_nothing(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    sandbox: str,
    operations: PaymentOperations,
    receiver: Receiver,
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    WebhookStore(db, targets=LOCAL_TARGETS).set(device.id, receiver.url)
    payment = needs_attention(digit, store, device.id)

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number="NO/SUCH/RECEIPT",
            note="by hand",
        )

    assert refused.value.code == "RECEIPT_NOT_FOUND"
    assert Queue(WEBHOOKS_QUEUE, connection=redis).count == 0
