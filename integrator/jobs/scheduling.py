"""`RqRegistrationScheduler`: hands payments to the "registration" queue, one job per payment.

The job id is `register-{payment_id}` (RQ 3 allows only letters, digits, `_` and `-`).
RQ's `unique=True` refuses a second job hash with that id atomically, and a per-payment lock
makes "replace a dead job" safe against a concurrent schedule.
Finished jobs are deleted at once (`result_ttl=0`), so a later schedule (an operator's retry) can
create the id again. What `schedule` does with the payment's job, by its state:

    none, finished, failed, stopped, canceled, or stuck   -> a new job, due in `delay_seconds`
    scheduled                                             -> moved earlier if asked (never later)
    scheduled but overdue (RQ's scheduler is not running) -> moved to the queue now
    queued or running                                     -> left alone (it runs, and decides
                                                             its own follow-up)

A job is *stuck* when RQ's bookkeeping says queued/scheduled/started but it cannot run: not in its
queue or registry, or started longer ago than the job timeout (its worker died: SIGKILL, OOM).
Duplicates are still harmless: the payment's lease makes a concurrent attempt BUSY.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

import redis as redis_lib
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from integrator.settings import Settings
from integrator.store import keys
from integrator.store.redis_batcher import RedisBatcher

log = logging.getLogger("integrator.jobs")

REGISTRATION_QUEUE: Final = "registration"  # register accepted payments with DIGIT
MAINTENANCE_QUEUE: Final = "maintenance"  # long, rare jobs (daily reconciliation)
WEBHOOKS_QUEUE: Final = "webhooks"  # signed POSTs to aggregators (integrator.jobs.webhooks)
#: Every queue the integrator uses, in priority order (a worker serves them in this order).
QUEUES: Final[tuple[str, ...]] = (REGISTRATION_QUEUE, MAINTENANCE_QUEUE, WEBHOOKS_QUEUE)
#: The job function, by import path (the web app never imports the worker's code).
REGISTER_PAYMENT: Final = "integrator.jobs.registration.register_payment"
SCHEDULE_LOCK_MS: Final = 5_000
#: A started job is considered abandoned this long after its timeout has passed.
STUCK_GRACE_SECONDS: Final = 5
#: A scheduled job this far past its time is not being moved by RQ's scheduler (its process died,
#: e.g. when Redis restarted, and idle workers only restart it between long blocking dequeues):
#: the sweeper moves it to the queue itself.
OVERDUE_SECONDS: Final = 15


def _description(payment_id: str) -> str:
    return f"register payment {payment_id}"


def job_id_for(payment_id: str) -> str:
    """The deterministic RQ job id of a payment's registration job."""
    return f"register-{payment_id}"


class JobState(StrEnum):
    NONE = "NONE"  # no job, or a finished/failed one: a new one may be made
    SCHEDULED = "SCHEDULED"
    QUEUED = "QUEUED"
    STARTED = "STARTED"
    STUCK = "STUCK"  # RQ thinks it will run, but it cannot
    OVERDUE = "OVERDUE"  # scheduled, long past its time: RQ's scheduler is not running


class RqRegistrationScheduler:
    """Implements `integrator.payments.service.RegistrationScheduler` on RQ."""

    def __init__(
        self, redis: redis_lib.Redis, settings: Settings, *, batcher: RedisBatcher | None = None
    ) -> None:
        self._redis = redis
        self._job_timeout = settings.registration_job_timeout_seconds
        self._batcher = batcher
        self.queue = Queue(REGISTRATION_QUEUE, connection=redis)

    # --- the RegistrationScheduler protocol ---

    def schedule(self, payment_id: str, *, delay_seconds: float) -> None:
        """Make sure the payment's job runs within `delay_seconds` (see the module docstring)."""
        self._schedule(payment_id, delay_seconds=delay_seconds, only_if_missing=False)

    def schedule_new(self, payment_id: str, *, delay_seconds: float) -> None:
        """The first job of a payment just accepted: nothing can have scheduled it yet (the
        sweeper leaves payments younger than the lease alone), so no look-up or lock is needed.
        Logged at DEBUG: every accepted payment gets one, and the service already logs the
        acceptance (one line per payment, not two, on the hot path).

        With a batcher (the web process), a job due now is written in the round trip the
        process's concurrent requests share (RedisBatcher), instead of two of its own: RQ's
        `unique` check is a script that needs its own call, so it is left out here. That is
        safe: no other job with this id can exist yet, and a duplicate would only find the
        payment's lease held (BUSY)."""
        if self._batcher is None or delay_seconds > 0:
            self._create(payment_id, delay_seconds, log_level=logging.DEBUG)
            return
        job = Queue.prepare_data(
            REGISTER_PAYMENT,
            (payment_id,),
            timeout=self._job_timeout,
            result_ttl=0,
            description=_description(payment_id),
            job_id=job_id_for(payment_id),
        )
        self._batcher.queued(lambda pipe: self.queue.enqueue_many([job], pipeline=pipe))
        log.debug("registration job scheduled", extra={"payment_id": payment_id})

    # --- used by the sweeper ---

    def ensure_scheduled(self, payment_id: str) -> bool:
        """Enqueue the payment's job now if it has none that can run; True if it did."""
        return self._schedule(payment_id, delay_seconds=0, only_if_missing=True)

    def state(self, payment_id: str) -> JobState:
        return self._state(self._fetch(job_id_for(payment_id)))

    # --- internals ---

    def _schedule(self, payment_id: str, *, delay_seconds: float, only_if_missing: bool) -> bool:
        job_id = job_id_for(payment_id)
        with self._locked(payment_id):
            job = self._fetch(job_id)
            state = self._state(job)
            if state in (JobState.QUEUED, JobState.STARTED):
                return False
            if state is JobState.SCHEDULED:
                if not only_if_missing:
                    self._move_earlier(job_id, delay_seconds)
                return False
            if state is JobState.OVERDUE and job is not None:
                return self._enqueue_overdue(job)
            if job is not None:
                log.warning(
                    "replacing registration job",
                    extra={
                        "payment_id": payment_id,
                        "job_state": state.value,
                        "rq_status": str(job.get_status(refresh=False)),
                    },
                )
                job.delete()
            return self._create(payment_id, delay_seconds)

    def _create(self, payment_id: str, delay_seconds: float, log_level: int = logging.INFO) -> bool:
        options = {
            "job_id": job_id_for(payment_id),
            "unique": True,
            "job_timeout": self._job_timeout,
            "result_ttl": 0,
            "description": _description(payment_id),
        }
        try:
            if delay_seconds <= 0:
                self.queue.enqueue(REGISTER_PAYMENT, payment_id, **options)
            else:
                self.queue.enqueue_in(
                    timedelta(seconds=delay_seconds), REGISTER_PAYMENT, payment_id, **options
                )
        except DuplicateJobError:
            return False  # made meanwhile (outside our lock, e.g. by RQ's retry): it will run
        log.log(
            log_level,
            "registration job scheduled",
            extra={"payment_id": payment_id, "delay_seconds": delay_seconds},
        )
        return True

    def _enqueue_overdue(self, job: Job) -> bool:
        """Do what RQ's scheduler would: move the due job from its registry to the queue."""
        if not self._redis.zrem(self.queue.scheduled_job_registry.key, job.id):
            return False  # RQ's scheduler (or another sweeper) moved it meanwhile
        self.queue.enqueue_job(job)
        log.warning(
            "moved an overdue registration job to the queue (RQ scheduler not running)",
            extra={"job_id": job.id},
        )
        return True

    def _move_earlier(self, job_id: str, delay_seconds: float) -> None:
        registry = self.queue.scheduled_job_registry
        when = time.time() + max(delay_seconds, 0)
        # XX: only while still scheduled (the RQ scheduler may be moving it to the queue now);
        # LT: only ever earlier.
        self._redis.zadd(registry.key, {job_id: int(when)}, xx=True, lt=True)

    def _fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self._redis)
        except NoSuchJobError:
            return None

    def _state(self, job: Job | None) -> JobState:
        if job is None:
            return JobState.NONE
        status = job.get_status(refresh=False)
        now = datetime.now(UTC)
        if status == JobStatus.SCHEDULED:
            registry = self.queue.scheduled_job_registry
            due = self._redis.zscore(registry.key, job.id)
            if due is None:
                return self._queued_or_stuck(job, now)
            if now.timestamp() - due > OVERDUE_SECONDS:
                return JobState.OVERDUE
            return JobState.SCHEDULED
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED):
            return self._queued_or_stuck(job, now)
        if status == JobStatus.STARTED:
            started = _aware(job.started_at or job.enqueued_at)
            limit = timedelta(seconds=self._job_timeout + STUCK_GRACE_SECONDS)
            if started is not None and now - started > limit:
                return JobState.STUCK
            return JobState.STARTED
        return JobState.NONE  # finished, failed, stopped, canceled

    def _queued_or_stuck(self, job: Job, now: datetime) -> JobState:
        """Queued counts only while the id is in the queue (or was just moved there)."""
        if self._redis.lpos(self.queue.key, job.id) is not None:
            return JobState.QUEUED
        enqueued = _aware(job.enqueued_at)
        if enqueued is not None and now - enqueued < timedelta(seconds=STUCK_GRACE_SECONDS):
            return JobState.QUEUED
        return JobState.STUCK

    @contextmanager
    def _locked(self, payment_id: str) -> Iterator[None]:
        key = keys.schedule_lock(payment_id)
        token = secrets.token_hex(8).encode()
        deadline = time.monotonic() + SCHEDULE_LOCK_MS / 1000
        while not self._redis.set(key, token, nx=True, px=SCHEDULE_LOCK_MS):
            if time.monotonic() > deadline:
                # the holder died mid-schedule; its lock expires by itself. Go ahead: unique=True
                # still refuses a second live job.
                break
            time.sleep(0.02)
        try:
            yield
        finally:
            if self._redis.get(key) == token:
                self._redis.delete(key)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
