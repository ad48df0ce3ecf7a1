"""RqRegistrationScheduler against a real Redis: one job per payment, only ever earlier, and
the sweeper's rescue of jobs RQ's scheduler is not moving."""

from __future__ import annotations

import time

import redis as redis_lib
from rq import Queue

from integrator.jobs.scheduling import (
    OVERDUE_SECONDS,
    REGISTRATION_QUEUE,
    JobState,
    RqRegistrationScheduler,
    job_id_for,
)
from integrator.settings import Settings


def scheduled_at(redis: redis_lib.Redis, payment_id: str) -> float | None:
    queue = Queue(REGISTRATION_QUEUE, connection=redis)
    return redis.zscore(queue.scheduled_job_registry.key, job_id_for(payment_id))


def test_scheduling_twice_makes_one_job_and_only_moves_it_earlier(
    redis: redis_lib.Redis, job_settings: Settings
) -> None:
    scheduler = RqRegistrationScheduler(redis, job_settings)
    scheduler.schedule("pay_a", delay_seconds=300)
    first = scheduled_at(redis, "pay_a")

    scheduler.schedule("pay_a", delay_seconds=600)  # later: ignored
    assert scheduled_at(redis, "pay_a") == first
    scheduler.schedule("pay_a", delay_seconds=10)  # earlier: moved
    moved = scheduled_at(redis, "pay_a")

    assert first is not None and moved is not None and moved < first
    queue = Queue(REGISTRATION_QUEUE, connection=redis)
    assert queue.scheduled_job_registry.get_job_ids() == [job_id_for("pay_a")]
    assert scheduler.state("pay_a") is JobState.SCHEDULED


def test_a_queued_job_is_left_alone(redis: redis_lib.Redis, job_settings: Settings) -> None:
    scheduler = RqRegistrationScheduler(redis, job_settings)
    scheduler.schedule("pay_b", delay_seconds=0)
    assert scheduler.ensure_scheduled("pay_b") is False
    assert Queue(REGISTRATION_QUEUE, connection=redis).job_ids == [job_id_for("pay_b")]


def test_the_sweeper_moves_an_overdue_scheduled_job_when_rq_scheduler_is_not_running(
    redis: redis_lib.Redis, job_settings: Settings
) -> None:
    scheduler = RqRegistrationScheduler(redis, job_settings)
    scheduler.schedule("pay_c", delay_seconds=30)
    queue = Queue(REGISTRATION_QUEUE, connection=redis)
    # no RQ scheduler runs here: make the job long overdue, as after a Redis restart
    redis.zadd(
        queue.scheduled_job_registry.key, {job_id_for("pay_c"): time.time() - OVERDUE_SECONDS - 5}
    )
    assert scheduler.state("pay_c") is JobState.OVERDUE

    assert scheduler.ensure_scheduled("pay_c") is True

    assert queue.job_ids == [job_id_for("pay_c")]
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert scheduler.ensure_scheduled("pay_c") is False  # now queued: left alone


def test_a_job_due_a_moment_ago_is_left_to_rq_scheduler(
    redis: redis_lib.Redis, job_settings: Settings
) -> None:
    scheduler = RqRegistrationScheduler(redis, job_settings)
    scheduler.schedule("pay_d", delay_seconds=30)
    queue = Queue(REGISTRATION_QUEUE, connection=redis)
    redis.zadd(queue.scheduled_job_registry.key, {job_id_for("pay_d"): time.time() - 1})
    assert scheduler.ensure_scheduled("pay_d") is False
    assert queue.job_ids == []
