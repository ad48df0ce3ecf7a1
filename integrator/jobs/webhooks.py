"""Webhook deliveries on RQ: the scheduler the observer uses, the job, and its retry policy.

One job per payment and event (`webhook-{payment_id}-{event}`, `unique=True`), on the
"webhooks" queue (served after registration and maintenance). The job makes one attempt and
returns `rq.Retry` while `Settings.webhook_retry_seconds` has waits left; the attempt after the
last wait is the last one, and a failure then is recorded as `failed` in the delivery log.
Every attempt is recorded there (`WebhookStore.deliveries`).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import closing
from datetime import datetime
from typing import Final

import redis as redis_lib
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError

from integrator.jobs.scheduling import WEBHOOKS_QUEUE
from integrator.settings import Settings
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.models import DeliveryRecord, WebhookEvent

log = logging.getLogger("integrator.webhooks")

#: The job function, by import path (the web app never imports the job's code).
DELIVER_WEBHOOK: Final = "integrator.jobs.webhooks.deliver_webhook"
#: One attempt is a 3 s connect + 10 s read at most (integrator.webhooks.delivery); plus margin.
JOB_TIMEOUT_SECONDS: Final = 60
#: A job that ended failed (e.g. killed) stays visible to `rq`/ops this long.
FAILURE_TTL_SECONDS: Final = 7 * 24 * 3600


def job_id_for(payment_id: str, event: WebhookEvent) -> str:
    """The deterministic RQ job id of one payment's delivery of one event."""
    return f"webhook-{payment_id}-{event.name.lower()}"


def retry_policy(settings: Settings) -> Retry:
    """The one retry policy of deliveries: the waits of WEBHOOK_RETRY_SECONDS, in order."""
    waits = list(settings.webhook_retry_seconds)
    return Retry(max=len(waits), interval=waits)


class RqWebhookScheduler:
    """Implements `integrator.webhooks.observer.DeliveryScheduler` on RQ."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.queue = Queue(WEBHOOKS_QUEUE, connection=redis)

    def enqueue(self, *, payment_id: str, event: WebhookEvent, occurred_at: datetime) -> bool:
        try:
            self.queue.enqueue(
                DELIVER_WEBHOOK,
                payment_id,
                event.value,
                occurred_at.isoformat(),
                str(uuid.uuid4()),  # X-Integrator-Delivery: the same on every retry
                job_id=job_id_for(payment_id, event),
                unique=True,
                job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=0,
                failure_ttl=FAILURE_TTL_SECONDS,
                description=f"deliver {event.value} webhook for payment {payment_id}",
            )
        except DuplicateJobError:
            return False  # already enqueued (or retrying): one delivery per payment and event
        return True


def deliver_webhook(
    payment_id: str, event_name: str, occurred_at: str, delivery_id: str
) -> Retry | None:
    """RQ job: one signed POST of `event_name` for the payment; Retry while waits are left."""
    from integrator.jobs import context
    from integrator.store.devices import DeviceStore
    from integrator.webhooks.delivery import WebhookSender, build_body

    ctx = context.current()
    event = WebhookEvent(event_name)
    job = get_current_job()
    attempt = (job.number_of_retries or 0) + 1 if job is not None else 1
    where = {"payment_id": payment_id, "event": event.value, "delivery_id": delivery_id}
    webhooks = WebhookStore(ctx.db, clock=ctx.clock)
    payment = ctx.payments.get(payment_id)
    if payment is None:
        log.warning("webhook not sent: no such payment", extra=where)
        return None
    endpoint = webhooks.get(payment.device_id)
    if endpoint is None or DeviceStore(ctx.db, ctx.redis).get(payment.device_id) is None:
        log.info("webhook not sent: the device has no webhook (any more)", extra=where)
        return None
    body = build_body(event, datetime.fromisoformat(occurred_at), payment)
    with closing(WebhookSender()) as sender:
        result = sender.send(endpoint, event=event, delivery_id=delivery_id, body=body)
    policy = retry_policy(ctx.settings)
    if result.delivered:
        outcome = "delivered"
    elif attempt > policy.max:
        outcome = "failed"
    else:
        outcome = "retrying"
    webhooks.record(
        payment_id,
        DeliveryRecord(
            delivery_id=delivery_id,
            event=event.value,
            attempt=attempt,
            at=ctx.clock(),
            outcome=outcome,
            status_code=result.status_code,
            error=result.error,
        ),
    )
    log_at = logging.WARNING if outcome == "failed" else logging.INFO
    log.log(
        log_at,
        "webhook attempt ended",
        extra={
            **where,
            "attempt": attempt,
            "outcome": outcome,
            "status_code": result.status_code,
            "error": result.error,
        },
    )
    return policy if outcome == "retrying" else None
