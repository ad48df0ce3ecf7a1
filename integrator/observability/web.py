"""GET /metrics (public, per the issue) and the wiring of the recorder into a process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis as redis_lib
from flask import Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from integrator.observability import events
from integrator.observability.collector import (
    IntegratorCollector,
    LedgerGauges,
    ReconciliationResults,
)
from integrator.observability.recorder import RedisMetrics

if TYPE_CHECKING:
    from integrator.services import Services

EXTENSION_KEY = "integrator.metrics"


def install_recorder(redis: redis_lib.Redis) -> RedisMetrics:
    """Count this process's events (DIGIT calls, token renewals, payment moves) in Redis."""
    recorder = RedisMetrics(redis)
    events.install(recorder)
    return recorder


def build_registry(
    redis: redis_lib.Redis, ledger: LedgerGauges, reconciliation: ReconciliationResults
) -> CollectorRegistry:
    """A registry holding only the integrator's collector (no process/platform collectors:
    they would differ per gunicorn worker)."""
    from integrator.jobs.scheduling import QUEUES

    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        IntegratorCollector(redis, ledger=ledger, reconciliation=reconciliation, queues=QUEUES)
    )
    return registry


def init_metrics(app: Flask, services: Services) -> None:
    """Install the recorder and serve GET /metrics without authentication."""
    if EXTENSION_KEY in app.extensions:  # already wired (idempotent)
        return
    install_recorder(services.redis)
    app.extensions[EXTENSION_KEY] = build_registry(
        services.redis, services.payments_store, services.reconciliation
    )
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics, methods=["GET"])


def metrics() -> Response:
    events.flush()  # this process's buffered DIGIT-call counts, before reading Redis
    registry = current_app.extensions[EXTENSION_KEY]
    assert isinstance(registry, CollectorRegistry)
    return Response(generate_latest(registry), status=200, content_type=CONTENT_TYPE_LATEST)
