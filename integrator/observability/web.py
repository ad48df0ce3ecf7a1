"""GET /metrics (public, per the issue) and the wiring of the recorder into a process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis as redis_lib
from flask import Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from integrator.observability.collector import (
    IntegratorCollector,
    LedgerGauges,
    ReconciliationResults,
)
from integrator.observability.queues import QueueInspector
from integrator.services import services_of

if TYPE_CHECKING:
    from integrator.services import Services

EXTENSION_KEY = "integrator.metrics"


def build_registry(
    redis: redis_lib.Redis,
    ledger: LedgerGauges,
    reconciliation: ReconciliationResults,
    queues: QueueInspector,
) -> CollectorRegistry:
    """A registry holding only the integrator's collector (no process/platform collectors:
    they would differ per gunicorn worker)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        IntegratorCollector(redis, ledger=ledger, reconciliation=reconciliation, queues=queues)
    )
    return registry


def init_metrics(app: Flask, services: Services) -> None:
    """Serve GET /metrics without authentication (the process's observer, built by
    `Services.build`, does the counting)."""
    if EXTENSION_KEY in app.extensions:  # already wired (idempotent)
        return
    app.extensions[EXTENSION_KEY] = build_registry(
        services.redis, services.payments_store, services.reconciliation, services.queues
    )
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics, methods=["GET"])


def metrics() -> Response:
    # this process's buffered DIGIT-call counts, before reading Redis
    services_of(current_app).observer.flush()
    registry = current_app.extensions[EXTENSION_KEY]
    assert isinstance(registry, CollectorRegistry)
    return Response(generate_latest(registry), status=200, content_type=CONTENT_TYPE_LATEST)
