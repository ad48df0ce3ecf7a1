"""`integrator queue status`: the registration workers and queue, at a glance."""

from __future__ import annotations

from datetime import datetime

import click

from integrator import jsonutil


@click.group()
def queue() -> None:
    """The registration queue: status."""


@queue.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Workers alive, queued and scheduled jobs, oldest pending payment, Redis memory (JSON,
    times in DIGIT_TIMEZONE, named in "timezone"). Exit 1 when no worker is alive."""
    from integrator.cli import command_services
    from integrator.ops.filters import tz_label
    from integrator.ops.health import queue_health
    from integrator.services import utc_now

    with command_services(ctx, pool_size=1) as services:
        health = queue_health(
            services.redis, queues=services.queues, ledger=services.payments_store, now=utc_now()
        )
    tz = services.settings.digit_timezone

    def local(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(tz)

    click.echo(
        jsonutil.dumps(
            {
                "timezone": tz_label(tz),
                "workers": [
                    {
                        "name": w.name,
                        "state": w.state,
                        "queues": list(w.queues),
                        "last_heartbeat": local(w.last_heartbeat),
                    }
                    for w in health.workers
                ],
                "queued": health.queued,
                "scheduled": health.scheduled,
                "failed": health.failed,
                "oldest_pending_at": local(health.oldest_pending_at),
                "oldest_pending_age_seconds": health.oldest_pending_age_seconds,
                "redis_memory": health.redis_memory,
                "errors": list(health.errors),
            },
            compact=False,
        )
    )
    if not health.workers:
        ctx.exit(1)
