"""What the ops views and /metrics see of the job queues, without knowing rq.

`QueueInspector` is the port; `integrator.jobs.inspection.RqQueueInspector` implements it on RQ
and `Services.queues` builds it. Its reads raise `redis.RedisError` when Redis is unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    name: str
    state: str
    queues: tuple[str, ...]
    last_heartbeat: datetime | None


@dataclass(frozen=True, kw_only=True)
class QueueCounts:
    queued: int = 0
    scheduled: int = 0
    started: int = 0
    failed: int = 0


class QueueInspector(Protocol):
    #: Every queue the workers serve, the registration queue first.
    names: tuple[str, ...]
    #: The queue registration jobs run on.
    registration_queue: str

    def workers(self) -> list[WorkerInfo]:
        """The workers that sent a heartbeat recently."""
        ...

    def counts(self, queue: str) -> QueueCounts:
        """How many jobs of `queue` wait, are scheduled, run and failed."""
        ...
