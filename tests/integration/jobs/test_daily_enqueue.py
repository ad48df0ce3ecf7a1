"""The daily reconciliation jobs are enqueued at most once a day each, by their deterministic job
ids, whatever became of the day's job (queued, finished, failed). A real Redis; no worker runs."""

from __future__ import annotations

from datetime import date

import redis as redis_lib
from rq import Queue
from rq.job import Job, JobStatus

from integrator.jobs.reconcile import (
    JOB_TIMEOUT_SECONDS,
    RESULT_TTL_SECONDS,
    daily_job_id,
    daily_walk_job_id,
    enqueue_daily,
    enqueue_daily_walk,
    reconcile_payments,
    walk_digit_payments,
)
from integrator.jobs.scheduling import MAINTENANCE_QUEUE

DAY = date(2026, 3, 10)


def test_each_daily_job_is_enqueued_once_a_day_and_again_the_next_day(
    redis: redis_lib.Redis,
) -> None:
    assert enqueue_daily(redis, MAINTENANCE_QUEUE, DAY) is True
    assert enqueue_daily_walk(redis, MAINTENANCE_QUEUE, DAY) is True  # its own id: not blocked
    assert enqueue_daily(redis, MAINTENANCE_QUEUE, DAY) is False
    assert enqueue_daily_walk(redis, MAINTENANCE_QUEUE, DAY) is False

    queue = Queue(MAINTENANCE_QUEUE, connection=redis)
    assert queue.job_ids == [daily_job_id(DAY), daily_walk_job_id(DAY)]
    forward = Job.fetch(daily_job_id(DAY), connection=redis)
    walk = Job.fetch(daily_walk_job_id(DAY), connection=redis)
    assert forward.func == reconcile_payments and walk.func == walk_digit_payments
    for job in (forward, walk):
        assert job.timeout == JOB_TIMEOUT_SECONDS
        assert job.result_ttl == RESULT_TTL_SECONDS
        assert job.failure_ttl == RESULT_TTL_SECONDS
    assert "REGISTERED" in (forward.description or "")
    assert str(DAY) in (walk.description or "")

    next_day = date(2026, 3, 11)
    assert enqueue_daily(redis, MAINTENANCE_QUEUE, next_day) is True
    assert enqueue_daily_walk(redis, MAINTENANCE_QUEUE, next_day) is True


def test_a_failed_job_of_the_day_is_not_enqueued_again_that_day(redis: redis_lib.Redis) -> None:
    assert enqueue_daily(redis, MAINTENANCE_QUEUE, DAY) is True
    job = Job.fetch(daily_job_id(DAY), connection=redis)
    Queue(MAINTENANCE_QUEUE, connection=redis).remove(job)
    job.set_status(JobStatus.FAILED)

    assert enqueue_daily(redis, MAINTENANCE_QUEUE, DAY) is False
    assert Queue(MAINTENANCE_QUEUE, connection=redis).job_ids == []
