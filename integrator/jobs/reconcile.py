"""The daily reconciliation job: REGISTERED payments re-checked against DIGIT.

    reconcile_payments(lookback_days=None)         the RQ job (thin: builds, runs, returns summary)
    enqueue_daily(redis, queue_name, today)        at most one job per day (deterministic job id)
    run_reconciliation(settings, redis, db, payments, digit, ...)
                                                   the same run inline (`integrator reports
                                                   reconcile`, tests)

The domain lives in `integrator.payments.reconciliation`; flags in `store.reconciliation` (the
ledger); the flag counter of /metrics in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis as redis_lib
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from integrator.observability.recorder import RedisMetrics
from integrator.payments.reconciliation import PaymentSearch, Reconciler, RunReport
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore

#: RQ kills a run longer than this (one DIGIT search per payment of the look-back).
JOB_TIMEOUT_SECONDS = 3 * 3600
#: Finished daily job ids are kept this long, so a second enqueue the same day is a no-op.
RESULT_TTL_SECONDS = 2 * 86400


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_reconciler(
    *,
    redis: redis_lib.Redis,
    db: Database,
    payments: PaymentStore,
    digit: PaymentSearch,
    clock: Callable[[], datetime] = utc_now,
) -> Reconciler:
    return Reconciler(
        payments=payments,
        digit=digit,
        flags=ReconciliationStore(db),
        clock=clock,
        on_flag=RedisMetrics(redis).reconciliation_flagged,
    )


def run_reconciliation(
    *,
    settings: Settings,
    redis: redis_lib.Redis,
    db: Database,
    payments: PaymentStore,
    digit: PaymentSearch,
    lookback_days: int | None = None,
    limit: int | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunReport:
    """One run, inline."""
    days = settings.reconcile_lookback_days if lookback_days is None else lookback_days
    reconciler = build_reconciler(redis=redis, db=db, payments=payments, digit=digit, clock=clock)
    return reconciler.run(lookback=timedelta(days=days), limit=limit)


def reconcile_payments(lookback_days: int | None = None) -> dict[str, Any]:
    """RQ job: reconcile with the worker's context; the summary is the job's result."""
    from integrator.jobs import context

    ctx = context.current()
    report = run_reconciliation(
        settings=ctx.settings,
        redis=ctx.redis,
        db=ctx.db,
        payments=ctx.payments,
        digit=ctx.digit,
        lookback_days=lookback_days,
        clock=ctx.clock,
    )
    return report.summary()


def daily_job_id(day: date) -> str:
    return f"reconcile-payments-{day.isoformat()}"


def enqueue_daily(redis: redis_lib.Redis, queue_name: str, today: date) -> bool:
    """Enqueue today's run unless a job for `today` exists already; True when enqueued."""
    job_id = daily_job_id(today)
    try:
        Job.fetch(job_id, connection=redis)
        return False
    except NoSuchJobError:
        pass
    Queue(queue_name, connection=redis).enqueue(
        reconcile_payments,
        job_id=job_id,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        description=f"reconcile REGISTERED payments ({today.isoformat()})",
    )
    return True
