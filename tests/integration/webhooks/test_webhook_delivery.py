"""Webhooks end to end: a payment registered by a real worker process, delivered to a receiving
HTTP server in the test, signed, retried, logged without its secret."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis as redis_lib
from rq import Queue

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.jobs.scheduling import WEBHOOKS_QUEUE, RqRegistrationScheduler
from integrator.payments.models import PaymentStatus
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.signing import verify
from tests.integration.jobs.conftest import wait_for_status, wait_until
from tests.integration.webhooks.conftest import LOCAL_TARGETS, Receiver, make_device_payment
from tests.support.secrets_guard import SecretsGuard

Workers = Callable[..., subprocess.Popen[bytes]]


def _device_with_webhook(
    db: Database, redis: redis_lib.Redis, url: str, guard: SecretsGuard
) -> tuple[str, str]:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    secret = WebhookStore(db, targets=LOCAL_TARGETS).set(device.id, url).secret
    guard.add(secret, "webhook-secret")
    return device.id, secret


def _register(
    redis: redis_lib.Redis,
    settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    device_id: str,
) -> str:
    payment = make_device_payment(digit, store, device_id)
    RqRegistrationScheduler(redis, settings).schedule(payment.id, delay_seconds=0)
    wait_for_status(store, payment.id, PaymentStatus.REGISTERED)
    return payment.id


def test_registered_payment_is_posted_once_signed_with_its_receipts(
    redis: redis_lib.Redis,
    db: Database,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_workers: Workers,
    secrets_guard: SecretsGuard,
    tmp_path: Path,
) -> None:
    device_id, secret = _device_with_webhook(db, redis, receiver.url, secrets_guard)
    webhook_workers()
    payment_id = _register(redis, job_settings, digit, store, device_id)

    wait_until(lambda: receiver.received, timeout=15, what="a webhook POST")
    time.sleep(1.5)  # a second POST would have come by now
    assert len(receiver.received) == 1
    posted = receiver.received[0]
    assert posted.headers["Content-Type"] == "application/json"
    assert posted.headers["X-Integrator-Event"] == "payment.registered"
    assert posted.headers["X-Integrator-Delivery"]
    assert verify(secret, posted.headers["X-Integrator-Signature"], posted.body, now=time.time())
    assert not verify(
        secret, posted.headers["X-Integrator-Signature"], posted.body + b" ", now=time.time()
    )
    body = jsonutil.loads(posted.body)
    assert body["event"] == "payment.registered" and body["occurredAt"]
    # the delivery id is signed (in the body) and the header repeats it
    assert body["deliveryId"] == posted.headers["X-Integrator-Delivery"]
    assert body["payment"]["id"] == payment_id and body["payment"]["status"] == "REGISTERED"
    assert body["payment"]["receipts"] and body["payment"]["receipts"][0]["receiptNumber"]

    log = WebhookStore(db).deliveries(payment_id)
    assert [(r.outcome, r.attempt, r.status_code) for r in log] == [("delivered", 1, 200)]
    assert log[0].delivery_id == posted.headers["X-Integrator-Delivery"]
    worker_logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert "webhook attempt ended" in worker_logs and secret not in worker_logs


def test_a_failed_delivery_is_retried_with_the_same_delivery_id(
    redis: redis_lib.Redis,
    db: Database,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_workers: Workers,
    secrets_guard: SecretsGuard,
) -> None:
    receiver.statuses = [500]
    device_id, secret = _device_with_webhook(db, redis, receiver.url, secrets_guard)
    webhook_workers(WEBHOOK_RETRY_SECONDS="1,1,2")
    payment_id = _register(redis, job_settings, digit, store, device_id)

    wait_until(lambda: len(receiver.received) >= 2, timeout=20, what="a retried webhook POST")
    first, second = receiver.received[:2]
    assert first.headers["X-Integrator-Delivery"] == second.headers["X-Integrator-Delivery"]
    assert verify(secret, second.headers["X-Integrator-Signature"], second.body, now=time.time())
    log = wait_until(
        lambda: (
            WebhookStore(db).deliveries(payment_id)[:2]
            if len(WebhookStore(db).deliveries(payment_id)) >= 2
            else None
        ),
        timeout=5,
        what="two recorded attempts",
    )
    assert [(r.outcome, r.attempt, r.status_code) for r in reversed(log)] == [
        ("retrying", 1, 500),
        ("delivered", 2, 200),
    ]


def test_a_delivery_failing_every_retry_is_recorded_as_failed(
    redis: redis_lib.Redis,
    db: Database,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_workers: Workers,
    secrets_guard: SecretsGuard,
) -> None:
    receiver.statuses = [503, 503, 503]
    device_id, _secret = _device_with_webhook(db, redis, receiver.url, secrets_guard)
    webhook_workers(WEBHOOK_RETRY_SECONDS="1")
    payment_id = _register(redis, job_settings, digit, store, device_id)

    log = wait_until(
        lambda: [r for r in WebhookStore(db).deliveries(payment_id) if r.outcome == "failed"],
        timeout=20,
        what="a failed delivery",
    )
    assert log[0].attempt == 2 and log[0].status_code == 503
    time.sleep(1.5)
    assert len(receiver.received) == 2  # one attempt and one retry, then no more


def test_a_device_without_a_webhook_gets_nothing(
    redis: redis_lib.Redis,
    db: Database,
    job_settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_workers: Workers,
) -> None:
    device, _key = DeviceStore(db, redis).add("no-hooks", ["pb"])
    webhook_workers()
    payment_id = _register(redis, job_settings, digit, store, device.id)
    time.sleep(1.5)
    assert receiver.received == []
    assert Queue(WEBHOOKS_QUEUE, connection=redis).count == 0
    assert WebhookStore(db).deliveries(payment_id) == []
