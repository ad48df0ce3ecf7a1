"""`RqQueueInspector`: implements `integrator.observability.queues.QueueInspector` on RQ."""

from __future__ import annotations

import redis as redis_lib
from rq import Queue, Worker

from integrator.jobs.scheduling import QUEUES, REGISTRATION_QUEUE
from integrator.observability.queues import QueueCounts, WorkerInfo


class RqQueueInspector:
    """Reads RQ's workers and registries from one Redis connection."""

    names: tuple[str, ...] = QUEUES
    registration_queue: str = REGISTRATION_QUEUE

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis

    def workers(self) -> list[WorkerInfo]:
        return [
            WorkerInfo(
                name=str(worker.name),
                state=str(worker.get_state()),
                queues=tuple(str(q) for q in worker.queue_names()),
                last_heartbeat=worker.last_heartbeat,
            )
            for worker in Worker.all(connection=self._redis)
        ]

    def counts(self, queue: str) -> QueueCounts:
        rq_queue = Queue(queue, connection=self._redis)
        return QueueCounts(
            queued=int(rq_queue.count),
            scheduled=int(rq_queue.scheduled_job_registry.count),
            started=int(rq_queue.started_job_registry.count),
            failed=int(rq_queue.failed_job_registry.count),
        )
