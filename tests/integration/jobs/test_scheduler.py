"""RqRegistrationScheduler against a real Redis: one job per payment, only ever earlier, and
the sweeper's rescue of jobs RQ's scheduler is not moving."""

from __future__ import annotations

import threading
import time

import redis as redis_lib
from rq import Queue
from rq.job import Job

from integrator.jobs.scheduling import (
    OVERDUE_SECONDS,
    REGISTRATION_QUEUE,
    JobState,
    RqRegistrationScheduler,
    job_id_for,
)
from integrator.settings import Settings
from integrator.store.redis_batcher import RedisBatcher


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


def _job_fields(redis: redis_lib.Redis, payment_id: str) -> dict[str, object]:
    job = Job.fetch(job_id_for(payment_id), connection=redis)
    return {
        "func": job.func_name,
        "args": job.args,
        "timeout": job.timeout,
        "result_ttl": job.result_ttl,
        "description": job.description.replace(payment_id, "<id>") if job.description else None,
        "status": job.get_status(),
        "origin": job.origin,
    }


def test_new_jobs_sent_in_shared_round_trips_are_the_jobs_a_direct_call_makes(
    redis: redis_lib.Redis, job_settings: Settings
) -> None:
    RqRegistrationScheduler(redis, job_settings).schedule_new("pay_direct", delay_seconds=0)
    batched = RqRegistrationScheduler(redis, job_settings, batcher=RedisBatcher(redis))
    ids = [f"pay_batched_{i}" for i in range(30)]
    threads = [
        threading.Thread(target=batched.schedule_new, args=(i,), kwargs={"delay_seconds": 0})
        for i in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    queue = Queue(REGISTRATION_QUEUE, connection=redis)
    assert sorted(queue.job_ids) == sorted(job_id_for(i) for i in ["pay_direct", *ids])
    direct = _job_fields(redis, "pay_direct")
    assert direct["args"] == ("pay_direct",) and direct["result_ttl"] == 0
    for payment_id in ids:
        fields = _job_fields(redis, payment_id)
        assert fields == {**direct, "args": (payment_id,)}
        assert batched.state(payment_id) is JobState.QUEUED
    # a job due later is RQ's scheduled one, as without a batcher
    batched.schedule_new("pay_later", delay_seconds=30)
    assert batched.state("pay_later") is JobState.SCHEDULED
