"""`run_worker`: what `integrator worker` runs. An RQ worker on the registration queue, with RQ's
scheduler (it moves `enqueue_in` jobs and returned `Retry`s to the queue when due) and the
maintenance loop (sweeper + DIGIT probe) in a background thread of the worker process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job

from integrator.jobs import context
from integrator.jobs.context import build_context
from integrator.jobs.maintenance import MaintenanceLoop
from integrator.jobs.scheduling import QUEUES
from integrator.observability import events
from integrator.settings import Settings

log = logging.getLogger("integrator.jobs")


class JobWorker(Worker):
    """An RQ worker whose work horse writes buffered metrics before it exits (RQ ends a horse
    with os._exit, so nothing else would)."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        try:
            return bool(super().perform_job(job, queue, execution))
        finally:
            events.flush()


#: RQ's worker heartbeat TTL; also bounds how long an idle worker waits before its maintenance.
WORKER_TTL_SECONDS = 45


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    with_scheduler: bool = True,
    queues: Sequence[str] = QUEUES,
    worker_class: type[Worker] = JobWorker,
    with_maintenance: bool = True,
) -> bool:
    """Work the queues until stopped (or, with `burst`, until empty). Returns whether a job ran.

    `worker_class` lets `integrator.worker` pass its own subclass (job id on log records).
    The caller does the start-up checks (settings, Redis durability) first.
    """
    context.configure(settings)  # built before the fork: every work horse inherits it
    loop_ctx = build_context(settings)  # the loop's own clients (threads and fork don't share)
    connection = loop_ctx.redis
    worker = worker_class(
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
        return bool(worker.work(burst=burst, with_scheduler=with_scheduler,
                                logging_level=settings.log_level))
    finally:
        if loop is not None:
            loop.stop()
