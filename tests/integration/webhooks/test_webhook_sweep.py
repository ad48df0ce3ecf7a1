"""Webhooks survive a Redis loss: the maintenance loop's `sweep_webhooks` re-derives from the
ledger the deliveries owed by payments' recent moves and never attempted, and enqueues them (an
in-process RQ worker, and a real `integrator worker`, against the test Redis and ledger)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis as redis_lib
from rq import SimpleWorker

from integrator import jsonutil
from integrator.digit.client import DigitClient
from integrator.jobs import webhooks as webhook_jobs
from integrator.jobs.context import JobContext
from integrator.jobs.scheduling import RqRegistrationScheduler
from integrator.jobs.webhooks import RqWebhookScheduler, job_id_for, sweep_webhooks
from integrator.payments import states
from integrator.payments.models import HistoryEntry, Payment, PaymentBill, PaymentStatus
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import CreateOutcome, PaymentStore
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.models import DeliveryRecord, WebhookEvent
from tests.integration.jobs.conftest import wait_until
from tests.integration.webhooks.conftest import LOCAL_TARGETS, Receiver, make_device_payment

Workers = Callable[..., subprocess.Popen[bytes]]
H = timedelta(hours=1)


def _later(ctx: JobContext, seconds: float) -> JobContext:
    """`ctx` with its clock `seconds` ahead: the sweep as it runs that much later."""
    return replace(ctx, clock=lambda: datetime.now(UTC) + timedelta(seconds=seconds))


def _after_grace(ctx: JobContext) -> JobContext:
    return _later(ctx, ctx.settings.webhook_sweep_grace_seconds + 1)


def _work(redis: redis_lib.Redis, settings: Settings) -> None:
    """Run every queued webhook delivery now (an in-process worker, burst mode)."""
    queue = RqWebhookScheduler(redis, settings).queue
    SimpleWorker([queue], connection=redis).work(burst=True)


def _device_with_webhook(
    db: Database, redis: redis_lib.Redis, url: str, *, name: str = "aggregator", at: datetime
) -> str:
    device, _key = DeviceStore(db, redis).add(name, ["pb"])
    WebhookStore(db, clock=lambda: at, targets=LOCAL_TARGETS).set(device.id, url)
    return device.id


def _moved_at(payment: Payment, status: PaymentStatus) -> datetime:
    return [h.at for h in payment.history if h.to_status is status][-1]


def _log(db: Database, payment_id: str) -> list[tuple[str, str, int]]:
    return [
        (r.event, r.outcome, r.attempt) for r in reversed(WebhookStore(db).deliveries(payment_id))
    ]


def _register_losing_the_webhook_job(
    redis: redis_lib.Redis,
    settings: Settings,
    digit: DigitClient,
    store: PaymentStore,
    device_id: str,
) -> Payment:
    """Register a payment with the real registration job; its webhook job is queued, and then
    Redis loses every key (FLUSHDB) before the job ran."""
    payment = make_device_payment(digit, store, device_id)
    registration = RqRegistrationScheduler(redis, settings)
    registration.schedule(payment.id, delay_seconds=0)
    SimpleWorker([registration.queue], connection=redis).work(burst=True)
    registered = store.get(payment.id)
    assert registered is not None and registered.status is PaymentStatus.REGISTERED
    webhooks = RqWebhookScheduler(redis, settings).queue
    assert webhooks.job_ids == [job_id_for(payment.id, WebhookEvent.REGISTERED)]
    redis.flushdb()
    return registered


def test_a_registration_whose_webhook_job_was_lost_with_redis_is_delivered_after_the_sweep(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    device_id = _device_with_webhook(db, redis, receiver.url, at=datetime.now(UTC))
    payment = _register_losing_the_webhook_job(redis, webhook_settings, digit, store, device_id)
    _work(redis, webhook_settings)
    assert receiver.received == []  # lost: nothing left in Redis would ever send it

    # within the grace period the normal path still has its chance: left alone
    assert sweep_webhooks(job_context) == []
    assert sweep_webhooks(_after_grace(job_context)) == [(payment.id, WebhookEvent.REGISTERED)]
    _work(redis, webhook_settings)

    assert len(receiver.received) == 1
    body = jsonutil.loads(receiver.received[0].body)
    assert body["event"] == "payment.registered"
    assert body["payment"]["id"] == payment.id and body["payment"]["status"] == "REGISTERED"
    # occurredAt is the move's time, as the ledger holds it
    moved = _moved_at(payment, PaymentStatus.REGISTERED)
    assert datetime.fromisoformat(body["occurredAt"]) == moved
    assert _log(db, payment.id) == [("payment.registered", "delivered", 1)]

    # delivered (an attempt is recorded): never again
    assert sweep_webhooks(_after_grace(job_context)) == []
    _work(redis, webhook_settings)
    assert len(receiver.received) == 1


def test_an_event_whose_delivery_was_attempted_and_given_up_is_not_sent_again(
    redis: redis_lib.Redis,
    db: Database,
    digit: DigitClient,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    receiver.statuses = [503, 503]
    device_id = _device_with_webhook(db, redis, receiver.url, at=datetime.now(UTC))
    payment = make_device_payment(digit, store, device_id)
    registration = RqRegistrationScheduler(redis, webhook_settings)
    registration.schedule(payment.id, delay_seconds=0)
    SimpleWorker([registration.queue], connection=redis).work(burst=True)
    webhooks = RqWebhookScheduler(redis, webhook_settings).queue
    _work(redis, webhook_settings)
    job_id = job_id_for(payment.id, WebhookEvent.REGISTERED)
    webhooks.scheduled_job_registry.requeue(job_id)  # the retry's wait is over
    _work(redis, webhook_settings)
    assert _log(db, payment.id) == [
        ("payment.registered", "retrying", 1),
        ("payment.registered", "failed", 2),
    ]
    redis.flushdb()  # and the failed job RQ kept is gone too

    assert sweep_webhooks(_after_grace(job_context)) == []
    _work(redis, webhook_settings)
    assert len(receiver.received) == 2


def _payment_moved(
    store: PaymentStore,
    device_id: str,
    *moves: tuple[PaymentStatus, datetime],
) -> Payment:
    """A payment of `device_id` (its own made-up bill and consumer: the ledger only) accepted a
    minute before its first move, then moved through `moves` at their times."""
    pid = f"pay_{os.urandom(8).hex()}"
    accepted = moves[0][1] - timedelta(minutes=1) if moves else datetime.now(UTC)
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
        collected_at=accepted,
        bills=(
            PaymentBill(
                bill_id=f"bill-{pid}",
                bill_number=f"WS/SWEEP/{pid}",
                consumer_code=f"WS/SWEEP/{pid}",
                business_service="WS",
                amount=Decimal("100"),
                total_due=Decimal("100"),
            ),
        ),
        created_at=accepted,
        history=(
            HistoryEntry(
                at=accepted,
                actor=f"device:{device_id}",
                event="accepted",
                to_status=PaymentStatus.PENDING,
            ),
        ),
    )
    assert store.create(payment).outcome is CreateOutcome.CREATED
    saved = payment
    for status, at in moves:
        moved = states.transition(saved, status, actor="test", reason="test", at=at)
        saved = store.save(moved, fence=None)
    return saved


def test_only_moves_within_the_look_back_made_after_the_webhook_was_set_are_sent(
    redis: redis_lib.Redis,
    db: Database,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    now = datetime.now(UTC)
    look_back = timedelta(seconds=webhook_settings.webhook_sweep_lookback_seconds)
    old_hook = _device_with_webhook(
        db, redis, receiver.url, name="old-hook", at=now - 2 * look_back
    )
    new_hook = _device_with_webhook(db, redis, receiver.url, name="new-hook", at=now - H)
    no_hook, _key = DeviceStore(db, redis).add("no-hook", ["pb"])
    R, NA = PaymentStatus.REGISTERED, PaymentStatus.NEEDS_ATTENTION

    owed = _payment_moved(store, old_hook, (R, now - 2 * H))
    owed_na = _payment_moved(store, new_hook, (NA, now - H / 2))
    _payment_moved(store, old_hook, (R, now - look_back - H))  # older than the look-back
    _payment_moved(store, new_hook, (R, now - 2 * H))  # before its webhook was set
    _payment_moved(store, no_hook.id, (R, now - 2 * H))  # its device has no webhook
    _payment_moved(store, old_hook)  # PENDING: no event
    _payment_moved(store, old_hook, (PaymentStatus.REFUSED, now - H))  # no event
    _payment_moved(store, old_hook, (R, now - timedelta(seconds=10)))  # within the grace period

    assert sorted(sweep_webhooks(job_context)) == sorted(
        [(owed.id, WebhookEvent.REGISTERED), (owed_na.id, WebhookEvent.NEEDS_ATTENTION)]
    )
    _work(redis, webhook_settings)
    sent = sorted(
        (jsonutil.loads(r.body)["payment"]["id"], jsonutil.loads(r.body)["event"])
        for r in receiver.received
    )
    assert sent == sorted(
        [(owed.id, "payment.registered"), (owed_na.id, "payment.needs_attention")]
    )


def test_a_payment_needing_attention_again_is_owed_a_delivery_of_its_new_move(
    redis: redis_lib.Redis,
    db: Database,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    """An attempt recorded for an earlier move of the same event does not cover a later one."""
    now = datetime.now(UTC)
    device_id = _device_with_webhook(db, redis, receiver.url, at=now - timedelta(days=1))
    NA, P = PaymentStatus.NEEDS_ATTENTION, PaymentStatus.PENDING
    payment = _payment_moved(store, device_id, (NA, now - 3 * H))
    # its delivery ran back then (and was answered)
    WebhookStore(db).record(
        payment.id,
        DeliveryRecord(
            delivery_id="first",
            event=WebhookEvent.NEEDS_ATTENTION.value,
            attempt=1,
            at=now - 3 * H + timedelta(seconds=5),
            outcome="delivered",
            status_code=200,
        ),
    )
    assert sweep_webhooks(job_context) == []

    minutes = timedelta(minutes=1)
    again = states.transition(
        payment, P, actor="operator:asha", reason="retry", at=now - 9 * minutes
    )
    again = store.save(again, fence=None)
    again = store.save(
        states.transition(again, NA, actor="worker", reason="test", at=now - 5 * minutes),
        fence=None,
    )
    assert sweep_webhooks(job_context) == [(payment.id, WebhookEvent.NEEDS_ATTENTION)]
    _work(redis, webhook_settings)
    assert [jsonutil.loads(r.body)["event"] for r in receiver.received] == [
        "payment.needs_attention"
    ]
    assert sweep_webhooks(job_context) == []


def test_older_moves_are_read_hourly_and_at_once_after_redis_lost_its_data(
    redis: redis_lib.Redis,
    db: Database,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
) -> None:
    """Each sweep reads the last minutes of moves; the whole look-back only when its mark in
    Redis is gone (an hour later, or with the rest of Redis's data)."""
    now = datetime.now(UTC)
    device_id = _device_with_webhook(db, redis, receiver.url, at=now - 2 * H)
    assert sweep_webhooks(job_context) == []  # the whole look-back: nothing owed yet
    payment = _payment_moved(store, device_id, (PaymentStatus.REGISTERED, now - H))

    assert sweep_webhooks(job_context) == []  # an hour ago is not recent
    redis.flushdb()
    assert sweep_webhooks(job_context) == [(payment.id, WebhookEvent.REGISTERED)]


def test_a_full_sweep_that_filled_its_batch_reads_the_whole_look_back_again(
    redis: redis_lib.Redis,
    db: Database,
    store: PaymentStore,
    receiver: Receiver,
    webhook_settings: Settings,
    job_context: JobContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_jobs, "SWEEP_BATCH", 1)
    now = datetime.now(UTC)
    device_id = _device_with_webhook(db, redis, receiver.url, at=now - 3 * H)
    first = _payment_moved(store, device_id, (PaymentStatus.REGISTERED, now - 2 * H))
    second = _payment_moved(store, device_id, (PaymentStatus.REGISTERED, now - H))

    assert sweep_webhooks(job_context) == [(first.id, WebhookEvent.REGISTERED)]
    _work(redis, webhook_settings)
    assert sweep_webhooks(job_context) == [(second.id, WebhookEvent.REGISTERED)]
    _work(redis, webhook_settings)
    assert sweep_webhooks(job_context) == []
    assert len(receiver.received) == 2


def test_the_worker_maintenance_loop_sends_what_the_ledger_says_is_owed(
    redis: redis_lib.Redis,
    db: Database,
    store: PaymentStore,
    receiver: Receiver,
    webhook_workers: Workers,
) -> None:
    """No job was ever queued for this move (as after a Redis loss): a real `integrator worker`
    finds it in the ledger on its own and delivers it."""
    now = datetime.now(UTC)
    device_id = _device_with_webhook(db, redis, receiver.url, at=now - H)
    payment = _payment_moved(
        store, device_id, (PaymentStatus.REGISTERED, now - timedelta(seconds=5))
    )
    webhook_workers(WEBHOOK_SWEEP_GRACE_SECONDS="2")

    wait_until(lambda: receiver.received, timeout=20, what="the swept webhook POST")
    time.sleep(2.5)  # a second sweep has run by now, and sent nothing more
    assert len(receiver.received) == 1
    body = jsonutil.loads(receiver.received[0].body)
    assert (body["event"], body["payment"]["id"]) == ("payment.registered", payment.id)
    assert _log(db, payment.id) == [("payment.registered", "delivered", 1)]
