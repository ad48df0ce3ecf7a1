"""`python -m tests.integration.webhooks.worker_main`: `python -m integrator.jobs` with the webhook
observer installed and every queue served, i.e. what the worker does once the lead adds
`install_webhooks(_context.redis)` to `integrator.jobs.context.configure`."""

from __future__ import annotations

from integrator import logs
from integrator.jobs import context
from integrator.jobs.runner import run_worker
from integrator.jobs.scheduling import QUEUES
from integrator.jobs.webhooks import install_webhooks
from integrator.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    logs.init_logging(settings.log_level)
    install_webhooks(context.configure(settings).redis)  # run_worker keeps this context
    run_worker(settings, queues=QUEUES)


if __name__ == "__main__":
    main()
