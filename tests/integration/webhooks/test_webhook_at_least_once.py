"""At least once: a delivery job that raises, is abandoned, or ended failed still gets its
webhook delivered (an in-process RQ worker against the test Redis and ledger)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import redis as redis_lib
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from integrator import jsonutil
from integrator.api.schemas.responses import payment_view
from integrator.api.wire import Wire
from integrator.digit.client import DigitClient
from integrator.jobs import context
from integrator.jobs.context import JobContext
from integrator.jobs.webhooks import FAILURE_TTL_SECONDS, RqWebhookScheduler, job_id_for
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.models import WebhookEvent
from tests.integration.webhooks.conftest import LOCAL_TARGETS, Receiver, make_device_payment

EVENT = WebhookEvent.NEEDS_ATTENTION


def _payment_with_webhook(
    db: Database,
    redis: redis_lib.Redis,
    digit: DigitClient,
    store: PaymentStore,
    url: str,
) -> str:
    device, _key = DeviceStore(db, redis).add("aggregator", ["pb"])
    WebhookStore(db, targets=LOCAL_TARGETS).set(device.id, url)
    return make_device_payment(digit, store, device.id).id


def _work(scheduler: RqWebhookScheduler) -> None:
    SimpleWorker([scheduler.queue], connection=scheduler.queue.connection).work(burst=True)


def _run_due_retry(scheduler: RqWebhookScheduler, job_id: str) -> None:
    """What RQ's scheduler does once the retry's wait is over, without waiting."""
    scheduler.queue.scheduled_job_registry.requeue(job_id)
    _work(scheduler)


def _log(db: Database, payment_id: str) -> list[tuple[Any, ...]]:
    return [
        (r.outcome, r.attempt, r.status_code, r.error)
        for r in reversed(WebhookStore(db).deliveries(payment_id))
    ]


def test_a_delivery_job_that_raises_is_recorded_and_retried_without_secrets_in_logs(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payment_id = _payment_with_webhook(db, redis, digit, store, receiver.url)
    real_get = job_context.payments.get
    calls: list[str] = []

    def ledger_down_once(pid: str) -> Any:
        calls.append(pid)
        if len(calls) == 1:
            raise psycopg.OperationalError("connection failed: password=hunter2-ledger")
        return real_get(pid)

    monkeypatch.setattr(job_context.payments, "get", ledger_down_once)
    scheduler = RqWebhookScheduler(redis, webhook_settings)
    caplog.set_level(logging.INFO)

    assert scheduler.enqueue(payment_id=payment_id, event=EVENT, occurred_at=datetime.now(UTC))
    _work(scheduler)

    job_id = job_id_for(payment_id, EVENT)
    assert Job.fetch(job_id, connection=redis).get_status() == JobStatus.SCHEDULED
    assert _log(db, payment_id) == [("retrying", 1, None, "OperationalError")]
    assert receiver.received == []

    _run_due_retry(scheduler, job_id)
    assert len(receiver.received) == 1
    assert _log(db, payment_id) == [
        ("retrying", 1, None, "OperationalError"),
        ("delivered", 2, 200, None),
    ]
    assert "hunter2" not in caplog.text


def test_a_delivery_job_abandoned_by_a_killed_worker_is_run_again(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    payment_id = _payment_with_webhook(db, redis, digit, store, receiver.url)
    scheduler = RqWebhookScheduler(redis, webhook_settings)
    assert scheduler.enqueue(payment_id=payment_id, event=EVENT, occurred_at=datetime.now(UTC))
    job_id = job_id_for(payment_id, EVENT)

    # What a worker SIGKILLed mid-POST leaves: the job STARTED, its execution long expired
    job = Job.fetch(job_id, connection=redis)
    scheduler.queue.remove(job)
    job.set_status(JobStatus.STARTED)
    started = StartedJobRegistry(queue=scheduler.queue)
    redis.zadd(started.key, {f"{job_id}:dead-execution": 1})
    started.cleanup()

    assert Job.fetch(job_id, connection=redis).get_status() == JobStatus.SCHEDULED
    _run_due_retry(scheduler, job_id)
    assert len(receiver.received) == 1
    assert _log(db, payment_id) == [("delivered", 2, 200, None)]


def test_an_event_enqueued_again_after_its_job_failed_is_delivered(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    payment_id = _payment_with_webhook(db, redis, digit, store, receiver.url)
    scheduler = RqWebhookScheduler(redis, webhook_settings)
    assert scheduler.enqueue(payment_id=payment_id, event=EVENT, occurred_at=datetime.now(UTC))
    job_id = job_id_for(payment_id, EVENT)

    # the job ended failed, and RQ keeps it (and its id) for FAILURE_TTL_SECONDS
    job = Job.fetch(job_id, connection=redis)
    scheduler.queue.remove(job)
    job.set_status(JobStatus.FAILED)
    scheduler.queue.failed_job_registry.add(job, ttl=FAILURE_TTL_SECONDS, exc_string="killed")
    first_delivery_id = job.args[3]

    assert scheduler.enqueue(payment_id=payment_id, event=EVENT, occurred_at=datetime.now(UTC))
    _work(scheduler)

    assert len(receiver.received) == 1
    assert receiver.received[0].headers["X-Integrator-Delivery"] != first_delivery_id
    assert _log(db, payment_id) == [("delivered", 1, 200, None)]


def test_an_event_already_queued_is_not_enqueued_twice(
    redis: redis_lib.Redis,
    webhook_settings: Settings,
) -> None:
    scheduler = RqWebhookScheduler(redis, webhook_settings)
    now = datetime.now(UTC)
    assert scheduler.enqueue(payment_id="pay_q", event=EVENT, occurred_at=now)
    assert not scheduler.enqueue(payment_id="pay_q", event=EVENT, occurred_at=now)
    assert scheduler.queue.count == 1


def test_the_delivered_payment_is_written_in_the_configured_timezone(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    job_env: dict[str, str],
) -> None:
    """With DIGIT_TIMEZONE other than the default, the worker writes the webhook's payment as
    GET /v1/payments/{id} does (the app's wire), not in Asia/Kolkata."""
    zone = ZoneInfo("America/Sao_Paulo")
    settings = Settings.from_env({**job_env, "DIGIT_TIMEZONE": "America/Sao_Paulo"}, dotenv=False)
    assert settings.digit_timezone == zone
    payment_id = _payment_with_webhook(db, redis, digit, store, receiver.url)
    context.reset()
    try:
        context.configure(settings)
        scheduler = RqWebhookScheduler(redis, settings)
        assert scheduler.enqueue(payment_id=payment_id, event=EVENT, occurred_at=datetime.now(UTC))
        _work(scheduler)
    finally:
        context.reset()

    [posted] = receiver.received
    sent = jsonutil.loads(posted.body)["payment"]
    payment = store.get(payment_id)
    assert payment is not None
    assert sent == jsonutil.loads(jsonutil.dumps(payment_view(payment, Wire(zone))))
    assert sent["createdAt"].endswith("-03:00")
