"""What registration jobs need, built once per worker process (`JobContext`).

`run_worker` calls `configure(settings)` in the worker process. A forked work horse
(WORKER_FORK_PER_JOB) forgets the parent's context and builds its own on first use, because a
database connection must never be shared across a fork. A job run by any other worker (e.g.
plain `rq worker`) builds the context from the environment on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis as redis_lib

from integrator.digit.client import DigitClient
from integrator.jobs.outage import DigitOutage
from integrator.jobs.policy import RetryPolicy
from integrator.jobs.scheduling import RqRegistrationScheduler
from integrator.observability.events import Observer
from integrator.payments.cancellation import Cancellations
from integrator.payments.registration import Registrar
from integrator.services import Services, utc_now
from integrator.settings import Settings
from integrator.store import redis_conn
from integrator.store.db import Database
from integrator.store.leases import LeaseStore
from integrator.store.payments import PaymentStore

#: Ledger connections per worker context: one job at a time, plus its inline look-ups.
WORKER_POOL_SIZE = 4


@dataclass(frozen=True, kw_only=True)
class JobContext:
    settings: Settings
    db: Database
    redis: redis_lib.Redis
    digit: DigitClient
    payments: PaymentStore
    leases: LeaseStore
    registrar: Registrar
    scheduler: RqRegistrationScheduler
    outage: DigitOutage
    policy: RetryPolicy
    clock: Callable[[], datetime]
    observer: Observer
    cancellations: Cancellations


def build_context(settings: Settings, *, redis: redis_lib.Redis | None = None) -> JobContext:
    """A fresh context (the maintenance loop builds its own; jobs use `current()`)."""
    if redis is None:
        redis = redis_conn.client_for(settings.redis_url)
    # The same object graph as the web app's (integrator.services), built for this process.
    services = Services.build(settings, redis=redis, pool_size=WORKER_POOL_SIZE)
    scheduler = services.scheduler
    assert isinstance(scheduler, RqRegistrationScheduler)
    return JobContext(
        settings=settings,
        db=services.db,
        redis=redis,
        digit=services.digit,
        payments=services.payments_store,
        leases=services.leases,
        registrar=services.registrar,
        scheduler=scheduler,
        outage=DigitOutage(redis),
        policy=RetryPolicy.from_settings(settings),
        clock=utc_now,
        observer=services.observer,
        cancellations=services.cancellations,
    )


_lock = threading.Lock()
_context: JobContext | None = None
_settings: Settings | None = None


def configure(settings: Settings) -> JobContext:
    """Build (or rebuild, for other settings) the process's context now."""
    global _context, _settings
    with _lock:
        if _context is None or _settings is not settings:
            _context = build_context(settings)
            _settings = settings
        return _context


def current() -> JobContext:
    """The process's context; built from the environment if `configure` was not called."""
    context = _context
    if context is not None:
        return context
    return configure(_settings or Settings.from_env())


def flush_observer() -> None:
    """Write what this process's observer holds in memory, if a job built the context."""
    context = _context
    if context is not None:
        context.observer.flush()


def reset() -> None:
    """Forget the cached context (tests)."""
    global _context, _settings
    with _lock:
        _context = None
        _settings = None


def _forget_in_child() -> None:
    """A forked work horse builds its own context: the parent's ledger connections and lock
    state must not be shared across the fork."""
    global _context, _lock
    _lock = threading.Lock()
    _context = None


os.register_at_fork(after_in_child=_forget_in_child)
