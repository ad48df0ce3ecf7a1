"""The RQ worker: what the Procfile's `worker: integrator worker` line runs.

It starts like the web app (settings, JSON logs, the Redis durability check, the shared Services)
and then works the queues with the RQ scheduler enabled, so retries with intervals and
`enqueue_in` jobs run. Jobs run inside the app context: a job reaches Redis and DIGIT with
`integrator.services.current_services()`, and every record it logs carries its `job_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from rq import Queue, Worker
from rq.job import Job

from integrator import logs
from integrator.app import create_app
from integrator.services import services_of
from integrator.settings import Settings

# Every queue the integrator uses, in priority order (the worker serves them in this order).
REGISTRATION_QUEUE: Final = "registration"  # register accepted payments with DIGIT
QUEUES: Final[tuple[str, ...]] = (REGISTRATION_QUEUE,)


class IntegratorWorker(Worker):
    """An RQ worker that stamps the job id on every log record of the job."""

    def execute_job(self, job: Job, queue: Queue) -> Any:
        with logs.bind_job_id(job.id):
            return super().execute_job(job, queue)


def run_worker(
    settings: Settings | None = None,
    *,
    burst: bool = False,
    queues: Sequence[str] = QUEUES,
    with_scheduler: bool = True,
) -> bool:
    """Work the queues until stopped (or, with `burst`, until they are empty).

    Refuses to start, like the web app, if Redis is not durable. Returns whether any job ran.
    """
    app = create_app(settings)
    services = services_of(app)
    connection = services.redis
    worker = IntegratorWorker(
        [Queue(name, connection=connection) for name in queues], connection=connection
    )
    with app.app_context():
        worked = worker.work(
            burst=burst,
            with_scheduler=with_scheduler,
            logging_level=services.settings.log_level,
        )
    return bool(worked)
