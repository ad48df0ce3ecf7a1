"""Webhook deliveries on RQ: the scheduler the observer uses, the job, and its retry policy.

One job per payment and event (`webhook-{payment_id}-{event}`, `unique=True`), on the
"webhooks" queue (served after registration and maintenance). The job makes one attempt and
returns `rq.Retry` while `Settings.webhook_retry_seconds` has waits left; the attempt after the
last wait is the last one, and a failure then is recorded as `failed` in the delivery log.
Every attempt is recorded there (`WebhookStore.deliveries`).

At least once: an attempt that raises (the ledger down, RQ's job timeout) is a failed attempt
like a 500, retried under the same policy; the job is also enqueued with that policy as RQ's
`retry`, so a job RQ finds abandoned (its worker killed mid-POST) is run again. A job that
ended failed anyway (kept `FAILURE_TTL_SECONDS` for ops) does not block a new enqueue of the
same event: `enqueue` replaces it.

Owed from the ledger: the queue lives in Redis, so a job lost with Redis's data (flushed, failed
over, restarted empty) before its first attempt would be lost for good. `sweep_webhooks`, a step
of the worker's maintenance loop (jobs/maintenance.py), re-derives what is owed from the ledger:
every payment whose move to its current status reports an event, made between
WEBHOOK_SWEEP_LOOKBACK_SECONDS and WEBHOOK_SWEEP_GRACE_SECONDS ago, to a webhook set before the
move, with no attempt of that event recorded since (`WebhookStore.owed`), is enqueued again
(unique per payment and event: a job still queued is left as it is). Each sweep reads the last
`SWEEP_RECENT_SECONDS` of moves; the whole look-back is read hourly and as soon as Redis lost its
data (the sweep's mark in Redis is gone with it).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import closing
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import redis as redis_lib
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from integrator.jobs.scheduling import WEBHOOKS_QUEUE
from integrator.settings import Settings
from integrator.store import keys
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.models import DeliveryRecord, WebhookEvent

if TYPE_CHECKING:
    from integrator.jobs.context import JobContext

log = logging.getLogger("integrator.webhooks")

#: The job function, by import path (the web app never imports the job's code).
DELIVER_WEBHOOK: Final = "integrator.jobs.webhooks.deliver_webhook"
#: One attempt is a 3 s connect + 10 s read at most (integrator.webhooks.delivery); plus margin.
JOB_TIMEOUT_SECONDS: Final = 60
#: A job that ended failed (e.g. killed) stays visible to `rq`/ops this long.
FAILURE_TTL_SECONDS: Final = 7 * 24 * 3600
#: Statuses of a job that will not run again: a new enqueue of its event replaces it.
_ENDED: Final = frozenset({JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})
#: At most this many owed deliveries are enqueued per sweep (the oldest moves first); a job
#: still queued keeps its place in the next sweep's batch, so the sweep never adds more than
#: this to a backlog.
SWEEP_BATCH: Final = 200
#: Each sweep reads the moves of this long before the grace period (cheap: minutes of traffic);
#: more than the sweeper's period, with margin for a worker restart.
SWEEP_RECENT_SECONDS: Final = 900
#: ... and the whole look-back this often, and at once when Redis lost its data (the mark
#: `keys.webhook_sweep_full_done` is gone): moves older than the recent window that were never
#: attempted, e.g. jobs queued behind a backlog and lost with Redis.
SWEEP_FULL_SECONDS: Final = 3600


def job_id_for(payment_id: str, event: WebhookEvent) -> str:
    """The deterministic RQ job id of one payment's delivery of one event."""
    return f"webhook-{payment_id}-{event.name.lower()}"


def retry_policy(settings: Settings) -> Retry:
    """The one retry policy of deliveries: the waits of WEBHOOK_RETRY_SECONDS, in order."""
    waits = list(settings.webhook_retry_seconds)
    return Retry(max=len(waits), interval=waits)


def attempt_number(job: Job | None, policy: Retry) -> int:
    """Which attempt this run is: the job's returned retries plus the runs RQ retried after
    the job was abandoned or raised (`retries_left` counts down from `policy.max`), plus one."""
    if job is None:
        return 1
    returned = job.number_of_retries or 0
    left = job.retries_left if job.retries_left is not None else policy.max
    return returned + max(policy.max - left, 0) + 1


class RqWebhookScheduler:
    """Implements `integrator.webhooks.observer.DeliveryScheduler` on RQ."""

    def __init__(self, redis: redis_lib.Redis, settings: Settings) -> None:
        self.queue = Queue(WEBHOOKS_QUEUE, connection=redis)
        self._settings = settings

    def enqueue(self, *, payment_id: str, event: WebhookEvent, occurred_at: datetime) -> bool:
        job_id = job_id_for(payment_id, event)
        try:
            self._enqueue(job_id, payment_id, event, occurred_at)
        except DuplicateJobError:
            if not self._drop_ended(job_id):
                # queued, scheduled or running: that delivery will carry the payment as it is
                log.info(
                    "webhook delivery already queued",
                    extra={"payment_id": payment_id, "event": event.value},
                )
                return False
            try:
                self._enqueue(job_id, payment_id, event, occurred_at)
            except DuplicateJobError:
                return False  # another process enqueued it between the two calls
        return True

    def _enqueue(
        self, job_id: str, payment_id: str, event: WebhookEvent, occurred_at: datetime
    ) -> None:
        self.queue.enqueue(
            DELIVER_WEBHOOK,
            payment_id,
            event.value,
            occurred_at.isoformat(),
            str(uuid.uuid4()),  # X-Integrator-Delivery: the same on every retry
            job_id=job_id,
            unique=True,
            job_timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=0,
            failure_ttl=FAILURE_TTL_SECONDS,
            # an abandoned job (worker killed) or one that raised is retried by RQ, same waits
            retry=retry_policy(self._settings),
            description=f"deliver {event.value} webhook for payment {payment_id}",
        )

    def _drop_ended(self, job_id: str) -> bool:
        """Delete the job `job_id` if it ended without delivering (failed, stopped, cancelled),
        so its event can be enqueued again; True if it did."""
        try:
            job = Job.fetch(job_id, connection=self.queue.connection)
        except NoSuchJobError:
            return True  # it expired meanwhile
        status = job.get_status(refresh=False)
        if status not in _ENDED:
            return False
        log.warning(
            "webhook delivery job had ended without delivering; enqueuing the event again",
            extra={"job_id": job_id, "status": str(status)},
        )
        job.delete()
        return True


def sweep_webhooks(ctx: JobContext) -> list[tuple[str, WebhookEvent]]:
    """The maintenance step for webhooks: enqueue the deliveries the ledger says are owed and
    were never attempted (their job lost with Redis); returns the (payment id, event) pairs this
    sweep enqueued. Reads the recent moves each time, the whole look-back when it is due."""
    now = ctx.clock()
    settings = ctx.settings
    moved_before = now - timedelta(seconds=settings.webhook_sweep_grace_seconds)
    full = not ctx.redis.exists(keys.webhook_sweep_full_done())
    if full:
        moved_since = now - timedelta(seconds=settings.webhook_sweep_lookback_seconds)
    else:
        moved_since = moved_before - timedelta(seconds=SWEEP_RECENT_SECONDS)
    owed = WebhookStore(ctx.db).owed(
        moved_since=moved_since, moved_before=moved_before, limit=SWEEP_BATCH
    )
    scheduler = RqWebhookScheduler(ctx.redis, settings)
    enqueued = [
        (o.payment_id, o.event)
        for o in owed
        # occurredAt is the move's time, from the ledger
        if scheduler.enqueue(payment_id=o.payment_id, event=o.event, occurred_at=o.moved_at)
    ]
    # A full batch may leave more owed: read it all again next time, while that finds deliveries
    # to enqueue (a batch of jobs only waiting their turn waits for the hour). Marked only once
    # done: a sweep that failed (the ledger or Redis down) is tried again in full.
    if full and not (len(owed) == SWEEP_BATCH and enqueued):
        ctx.redis.set(keys.webhook_sweep_full_done(), "1", ex=SWEEP_FULL_SECONDS)
    if enqueued:
        log.warning(
            "webhook deliveries owed by the ledger and never attempted were enqueued",
            extra={
                "count": len(enqueued),
                "owed": len(owed),
                "full": full,
                "deliveries": [f"{pid} {event.value}" for pid, event in enqueued],
            },
        )
    return enqueued


def deliver_webhook(
    payment_id: str, event_name: str, occurred_at: str, delivery_id: str
) -> Retry | None:
    """RQ job: one signed POST of `event_name` for the payment; Retry while waits are left."""
    from integrator.api.wire import Wire
    from integrator.jobs import context
    from integrator.store.devices import DeviceStore
    from integrator.webhooks.delivery import DeliveryResult, WebhookSender, build_body
    from integrator.webhooks.targets import TargetPolicy

    ctx = context.current()
    event = WebhookEvent(event_name)
    policy = retry_policy(ctx.settings)
    attempt = attempt_number(get_current_job(), policy)
    where = {"payment_id": payment_id, "event": event.value, "delivery_id": delivery_id}
    webhooks = WebhookStore(ctx.db, clock=ctx.clock)
    try:
        payment = ctx.payments.get(payment_id)
        if payment is None:
            log.warning("webhook not sent: no such payment", extra=where)
            return None
        endpoint = webhooks.get(payment.device_id)
        if endpoint is None or DeviceStore(ctx.db, ctx.redis).get(payment.device_id) is None:
            log.info("webhook not sent: the device has no webhook (any more)", extra=where)
            return None
        body = build_body(
            event,
            datetime.fromisoformat(occurred_at),
            payment,
            delivery_id=delivery_id,
            wire=Wire(ctx.settings.digit_timezone),  # as GET /v1/payments/{id} writes it
        )
        targets = TargetPolicy(allow_private=ctx.settings.webhook_allow_private_targets)
        with closing(WebhookSender(targets=targets)) as sender:
            result = sender.send(endpoint, event=event, delivery_id=delivery_id, body=body)
    except Exception as exc:
        # e.g. the ledger is down, or RQ's job timeout: a failed attempt, retried like a 500.
        # Only the exception's type is kept: its text may hold a DSN or a URL's secrets.
        result = DeliveryResult(delivered=False, error=type(exc).__name__)
    if result.delivered:
        outcome = "delivered"
    elif attempt > policy.max:
        outcome = "failed"
    else:
        outcome = "retrying"
    entry = DeliveryRecord(
        delivery_id=delivery_id,
        event=event.value,
        attempt=attempt,
        at=ctx.clock(),
        outcome=outcome,
        status_code=result.status_code,
        error=result.error,
    )
    try:
        webhooks.record(payment_id, entry)
    except Exception as exc:
        # the ledger may be what failed: the attempt is still logged, and retried
        log.warning(
            "could not record a webhook attempt", extra={**where, "error": type(exc).__name__}
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
