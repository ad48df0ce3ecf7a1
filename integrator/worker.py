"""The RQ worker: what the Procfile's `worker: integrator worker` line runs.

It starts like the web app (settings, JSON logs, the ledger's schema check) and then hands over
to `integrator.jobs.runner`, which works the queues with the RQ scheduler enabled (scheduled
retries) and runs the sweeper and the DIGIT probe beside them. Every record a job logs carries
its `job_id`.
"""

from __future__ import annotations

from collections.abc import Sequence

from integrator.app import init_database, init_process_logging, init_redis
from integrator.jobs.scheduling import QUEUES as QUEUES
from integrator.jobs.scheduling import REGISTRATION_QUEUE as REGISTRATION_QUEUE
from integrator.settings import Settings


def run_worker(
    settings: Settings | None = None,
    *,
    burst: bool = False,
    queues: Sequence[str] = QUEUES,
    with_scheduler: bool = True,
) -> bool:
    """Work the queues until stopped (or, with `burst`, until they are empty).

    Refuses to start, like the web app, when the ledger's schema is behind. Returns whether any
    job ran.
    """
    from integrator.jobs.runner import run_worker as run_registration_worker

    # The web app's start-up checks: settings, JSON logs, the ledger's schema, Redis.
    settings = settings if settings is not None else Settings.from_env()
    init_process_logging(settings)
    init_database(settings).close()
    init_redis(settings).close()
    return run_registration_worker(
        settings,
        burst=burst,
        with_scheduler=with_scheduler,
        queues=queues,
    )
