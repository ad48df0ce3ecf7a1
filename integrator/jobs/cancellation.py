"""After a reversal, follow the dues on RQ; and tell the device's webhook.

One job per request (`follow-dues-{request_id}`, `unique=True`) on the maintenance queue. It
makes one look (`Cancellations.follow_dues`) and returns `rq.Retry` while billing has not
re-opened the dues yet and CANCELLATION_DUES_POLL_SECONDS has waits left; the look after the last
wait is the last one (then NONE_DUE or GAVE_UP is recorded). The worker's maintenance loop runs
`sweep_reversals`: requests DIGIT left unanswered are looked up until decided, and a dues job
that failed or was lost is replaced.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import redis as redis_lib
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus

from integrator.jobs.scheduling import MAINTENANCE_QUEUE
from integrator.jobs.webhooks import RqWebhookScheduler
from integrator.payments.cancellation_records import CancellationRequest, DuesState
from integrator.payments.models import Payment
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.webhooks import WebhookStore
from integrator.webhooks.observer import WebhookObserver

if TYPE_CHECKING:
    from integrator.jobs.context import JobContext

log = logging.getLogger("integrator.cancellation")

FOLLOW_DUES: Final = "integrator.jobs.cancellation.follow_dues"
JOB_TIMEOUT_SECONDS: Final = 120
FAILURE_TTL_SECONDS: Final = 7 * 24 * 3600


def job_id_for(request_id: str) -> str:
    return f"follow-dues-{request_id}"


def retry_policy(settings: Settings) -> Retry:
    """The one retry policy of the dues job: the waits of CANCELLATION_DUES_POLL_SECONDS."""
    waits = list(settings.cancellation_dues_poll_seconds)
    return Retry(max=len(waits), interval=waits)


class RqDuesScheduler:
    """Implements `integrator.payments.cancellation.DuesScheduler` on RQ."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.queue = Queue(MAINTENANCE_QUEUE, connection=redis)

    def follow(self, request_id: str, *, delay_seconds: float) -> None:
        options = {
            "job_id": job_id_for(request_id),
            "unique": True,
            "job_timeout": JOB_TIMEOUT_SECONDS,
            "result_ttl": 0,
            "failure_ttl": FAILURE_TTL_SECONDS,
            "description": f"follow the dues after reversal {request_id}",
        }
        try:
            if delay_seconds <= 0:
                self.queue.enqueue(FOLLOW_DUES, request_id, **options)
            else:
                self.queue.enqueue_in(
                    timedelta(seconds=delay_seconds), FOLLOW_DUES, request_id, **options
                )
        except DuplicateJobError:
            pass  # already following

    def ensure_following(self, request_id: str) -> bool:
        """Enqueue the request's dues job now unless one is queued, running or waiting for
        its retry; True if it did. A job that failed (an error the retry policy does not
        cover) or was lost with Redis is replaced."""
        job = self.queue.fetch_job(job_id_for(request_id))
        if job is not None:
            if job.get_status(refresh=False) in _ALIVE:
                return False
            job.delete()
        self.follow(request_id, delay_seconds=0)
        return True


_ALIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED})


#: Reversals left unanswered looked up per maintenance period (each may cost two DIGIT calls).
SETTLE_PER_SWEEP: Final = 5


def _sent(request: CancellationRequest) -> datetime:
    return request.sent_at or request.decided_at or request.requested_at


def sweep_reversals(ctx: JobContext) -> None:
    """The worker's maintenance step for reversals: a request DIGIT left unanswered is looked
    up (never sent again) until DIGIT shows it applied or it can no longer be
    (CREATE_SETTLE_SECONDS after the last call); every reversal whose dues are still followed
    has a job (one that failed or was lost is replaced)."""
    cancellations = ctx.cancellations
    scheduler = RqDuesScheduler(ctx.redis)
    # the poll schedule twice over, and an hour: a request still FOLLOWING then has a job that
    # keeps failing (replaced, it never reaches its last try); say so instead of for good
    overdue = timedelta(seconds=2 * sum(ctx.settings.cancellation_dues_poll_seconds) + 3600)
    revived = [
        r.id
        for r in cancellations.following_dues()
        if not cancellations.stop_following(r.id, overdue=overdue)
        and scheduler.ensure_following(r.id)
    ]
    if revived:
        log.warning("dues jobs re-enqueued", extra={"request_ids": revived})
    if ctx.outage.down_since() is not None:
        return  # the probe says when DIGIT answers again; looking now would only wait
    settle = timedelta(seconds=ctx.settings.create_settle_seconds)
    # oldest first, a few per period: each look is up to two DIGIT searches on the loop's
    # thread, which the probe and the payment sweeper share
    for request in sorted(cancellations.unanswered(), key=_sent)[:SETTLE_PER_SWEEP]:
        try:
            cancellations.settle_unanswered(request.id, settle=settle)
        except Exception:
            log.exception(
                "could not settle a reversal left unanswered", extra={"request_id": request.id}
            )


class WebhookReversalNotifier:
    """Implements `integrator.payments.cancellation.ReversalNotifier` with the webhook observer:
    a device with a webhook is told `payment.cancelled` / `payment.dishonoured`."""

    def __init__(self, redis: redis_lib.Redis, db: Database, settings: Settings) -> None:
        self._observer = WebhookObserver(
            endpoints=WebhookStore(db),
            scheduler=RqWebhookScheduler(redis, settings),
            clock=lambda: datetime.now(UTC),
        )

    def payment_reversed(self, payment: Payment) -> None:
        self._observer.payment_reversed(payment)


def follow_dues(request_id: str) -> Retry | None:
    """RQ job: one look at the consumers' bills after a reversal; Retry while waits are left."""
    from integrator.jobs import context

    ctx = context.current()
    job = get_current_job()
    policy = retry_policy(ctx.settings)
    attempt = (job.number_of_retries or 0) + 1 if job is not None else 1
    request = ctx.cancellations.follow_dues(request_id, last_try=attempt > policy.max)
    log.info(
        "dues looked at after a reversal",
        extra={
            "request_id": request_id,
            "attempt": attempt,
            "dues_state": request.dues_state.value if request.dues_state else None,
        },
    )
    if request.dues_state is DuesState.FOLLOWING and attempt <= policy.max:
        return policy
    return None
