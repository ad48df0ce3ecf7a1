"""`run_worker`: what `integrator worker` runs. An RQ worker on the registration queue, with RQ's
scheduler (it moves `enqueue_in` jobs and returned `Retry`s to the queue when due) and the
maintenance loop (sweeper + DIGIT probe) in a background thread of the worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis.client import Pipeline
from rq import Queue, SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job
from rq.utils import now

from integrator import logs
from integrator.jobs import context
from integrator.jobs.context import build_context
from integrator.jobs.maintenance import MaintenanceLoop
from integrator.jobs.scheduling import QUEUES
from integrator.settings import Settings

log = logging.getLogger("integrator.jobs")

#: RQ's worker heartbeat TTL; also bounds how long an idle worker waits before its maintenance.
WORKER_TTL_SECONDS = 45
#: The in-process worker refreshes its key at most this often (it expires WORKER_TTL_SECONDS +
#: 60 s after a refresh).
HEARTBEAT_EVERY_SECONDS = 5


class _JobHooks:
    """What every integrator worker does around a job: the job id on every log record."""

    def execute_job(self, job: Job, queue: Queue) -> Any:
        with logs.bind_job_id(job.id):
            return super().execute_job(job, queue)  # type: ignore[misc]


class JobWorker(_JobHooks, SimpleWorker):
    """Runs each job in the worker process itself (the default). Registration jobs are thin and
    mostly wait on DIGIT: a fork per job cost about a fifth of the drain rate of a backlog
    (docs/performance.md). A worker killed mid-job loses nothing: the job's lease expires and
    the sweeper re-enqueues the payment, which then looks in DIGIT before creating.

    Per job, RQ's loop would send three heartbeats (three Redis writes each) and set the
    worker's state to idle twice, each a durable write (appendfsync always) the job waits for.
    Here a heartbeat within HEARTBEAT_EVERY_SECONDS of the last one is skipped (the worker's key
    lives worker_ttl + 60 s after each) and a state already set is not set again. Buffered
    metrics are written by the process's flusher thread (once a second), not after each job."""

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        recent = self.last_heartbeat is not None and now() - self.last_heartbeat < timedelta(
            seconds=HEARTBEAT_EVERY_SECONDS
        )
        if timeout is None and pipeline is None and recent:
            return
        super().heartbeat(timeout, pipeline)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)


class ForkingJobWorker(_JobHooks, Worker):
    """RQ's default isolation: a work horse forked per job (WORKER_FORK_PER_JOB=true). Buffered
    metrics are written before the work horse may exit (RQ ends it with os._exit, so nothing
    else would)."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        try:
            return bool(super().perform_job(job, queue, execution))
        finally:
            context.flush_observer()


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    with_scheduler: bool = True,
    queues: Sequence[str] = QUEUES,
    worker_class: type[Worker] | None = None,
    with_maintenance: bool = True,
) -> bool:
    """Work the queues until stopped (or, with `burst`, until empty). Returns whether a job ran.

    `worker_class` overrides the choice WORKER_FORK_PER_JOB makes (tests).
    The caller does the start-up checks (settings, Redis durability) first.
    """
    context.configure(settings)  # built before the fork: every work horse inherits it
    loop_ctx = build_context(settings)  # the loop's own clients (threads and fork don't share)
    connection = loop_ctx.redis
    chosen: Any = worker_class or (ForkingJobWorker if settings.worker_fork_per_job else JobWorker)
    worker = chosen(
        [Queue(name, connection=connection) for name in queues],
        connection=connection,
        maintenance_interval=settings.worker_maintenance_seconds,
        # An idle worker blocks in dequeue for worker_ttl - 15 s and runs RQ's maintenance
        # (which restarts a dead scheduler) only in between: keep that wait short.
        worker_ttl=WORKER_TTL_SECONDS,
    )
    loop = MaintenanceLoop(loop_ctx) if with_maintenance and not burst else None
    if loop is not None:
        loop.start()
    try:
        return bool(
            worker.work(
                burst=burst, with_scheduler=with_scheduler, logging_level=settings.log_level
            )
        )
    finally:
        if loop is not None:
            loop.stop()
