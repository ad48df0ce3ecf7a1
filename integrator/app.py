"""The application factory: the only place where the layers are wired together.

`create_app()` reads like a table of contents; each step is a small `init_*`/`register_*` function
below it. Nothing happens at import time: gunicorn imports `integrator.wsgi`, which calls it.
"""

from __future__ import annotations

import logging

import redis as redis_lib
from flask import Flask

from integrator import health, logs
from integrator.proxy import init_proxy_fix
from integrator.services import EXTENSION_KEY, Services, connect_database
from integrator.settings import Settings
from integrator.store import redis_conn
from integrator.store.db import Database

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app. Refuses to start on bad settings or a ledger schema that is behind."""
    settings = settings if settings is not None else Settings.from_env()
    app = Flask("integrator")
    init_config(app, settings)
    init_proxy_fix(app, settings)
    init_logging(app, settings)
    db = init_database(settings)
    redis = init_redis(settings)
    services = init_services(app, settings, db, redis)
    register_health(app)
    register_api(app, services)
    register_reports_and_metrics(app, services)
    register_ops(app, services)
    log.info(
        "integrator app ready",
        extra={"digit_base_url": settings.digit_base_url, "sandbox_mode": settings.sandbox_mode},
    )
    return app


def init_config(app: Flask, settings: Settings) -> None:
    """Flask's own knobs, derived from Settings (never from the environment directly)."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False


def init_logging(app: Flask, settings: Settings) -> None:
    """JSON lines on stderr; secrets redacted; a request id on every record."""
    init_process_logging(settings)
    logs.init_request_id(app)


def init_process_logging(settings: Settings) -> None:
    """What every process (web or worker) logs through: JSON lines, secrets redacted."""
    logs.init_logging(settings.log_level)
    logs.register_secret(settings.digit_password)
    logs.register_secret(settings.digit_client_secret)


def init_database(settings: Settings) -> Database:
    """The ledger's connection pool; refuses to start unless the schema is at head."""
    return connect_database(settings)


def init_redis(settings: Settings) -> redis_lib.Redis:
    """Connect to Redis (queue, token, caches); warn if it could evict queued jobs."""
    redis = redis_conn.connect(settings)
    redis_conn.warn_if_evicting(redis)
    return redis


def init_services(app: Flask, settings: Settings, db: Database, redis: redis_lib.Redis) -> Services:
    """Shared per-app objects in app.extensions["integrator"]; the DIGIT client is built lazily."""
    services = Services.build(settings, db=db, redis=redis)
    app.extensions[EXTENSION_KEY] = services
    return services


def register_health(app: Flask) -> None:
    """/healthz and /readyz, unauthenticated."""
    health.init_app(app)


def register_api(app: Flask, services: Services) -> None:
    """The HTTP edge: the PoS API under /v1 (device keys), its OpenAPI document and docs, and
    printable receipts (GET /v1/payments/{id}/receipt)."""
    from integrator.api import ApiDependencies, init_api

    init_api(
        app,
        dependencies=ApiDependencies(
            payments=lambda: services.payments,
            devices=services.devices,
            rate_limiter=services.rate_limiter,
            rate_limit_per_minute=services.settings.device_rate_limit_per_minute,
            max_body_bytes=services.settings.max_body_bytes,
            clock=services.clock,
            admission=services.devices,
            timezone=services.settings.digit_timezone,
            cancellations=lambda: services.cancellations,
            cash_guard=services.cash,
            snapshots_written=services.snapshots.settle,
        ),
    )
    from integrator.api.receipts import init_receipts

    init_receipts(app, receipts=lambda: services.receipts)


def register_reports_and_metrics(app: Flask, services: Services) -> None:
    """GET /v1/reports/settlement (device key) and GET /metrics (public, for Prometheus)."""
    from integrator.api.reports import init_reports
    from integrator.observability.web import init_metrics

    init_reports(
        app,
        payments_store=services.payments_store,
        timezone=services.settings.settlement_timezone,
    )
    init_metrics(app, services)


def register_ops(app: Flask, services: Services) -> None:
    """/ops: the ops console (ops accounts, viewer/operator roles, CSRF on every POST)."""
    from integrator.ops import init_ops

    init_ops(app, services)
