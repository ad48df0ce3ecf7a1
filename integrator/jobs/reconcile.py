"""The daily reconciliation job: REGISTERED payments re-checked against DIGIT.

    reconcile_payments(lookback_days=None)         the RQ job (thin: builds, runs, returns summary)
    enqueue_daily(redis, queue_name, today)        at most one job per day (deterministic job id)
    run_reconciliation(settings, redis, db, payments, digit, ...)
                                                   the same run inline (`integrator reports
                                                   reconcile`, tests)

    walk_digit_payments(first_day=None, last_day=None)
                                                   the RQ job walking DIGIT's payments of some days
                                                   (default: the two days before today)
    enqueue_daily_walk(redis, queue_name, today)   at most one walk per day (deterministic job id)
    run_digit_walk(settings, redis, db, payments, digit, first, last, ...)
                                                   the same walk inline (`integrator reports
                                                   reconcile --from --to`, chaos, tests)

The domain lives in `integrator.payments.reconciliation` and `.reverse_reconciliation`; flags in
`store.reconciliation` and findings in `store.findings` (the ledger); the flag counter of
/metrics in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis as redis_lib
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from integrator.digit.client import DigitClient
from integrator.observability.recorder import RedisMetrics
from integrator.payments.reconciliation import PaymentSearch, Reconciler, RunReport
from integrator.payments.reverse_reconciliation import ReverseReconciler, WalkReport, scopes_for
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.findings import FindingStore
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore

#: RQ kills a run longer than this (one DIGIT search per payment of the look-back).
JOB_TIMEOUT_SECONDS = 3 * 3600
#: Finished daily job ids are kept this long, so a second enqueue the same day is a no-op.
RESULT_TTL_SECONDS = 2 * 86400
#: The daily walk covers this many days before today: a day is walked twice, so a payment DIGIT
#: commits around midnight, or a walk that could not finish, is looked at again the next day.
DAILY_WALK_DAYS = 2
#: Payments accepted this long before the walked days may still have been committed in them
#: (offline acceptance, retries up to RETRY_MAX_AGE_SECONDS, a create committing late).
SCOPE_MARGIN = timedelta(days=7)


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


# --- the walk of DIGIT's payments (reverse reconciliation) ---


def run_digit_walk(
    *,
    settings: Settings,
    redis: redis_lib.Redis,
    db: Database,
    payments: PaymentStore,
    digit: DigitClient,
    first: date,
    last: date,
    clock: Callable[[], datetime] = utc_now,
) -> WalkReport:
    """Walk DIGIT's payments of the days `first`..`last` (DIGIT_TIMEZONE) in every city and
    module the integrator collects in; record the findings in the ledger."""
    findings = FindingStore(db)
    tz = settings.digit_timezone
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz) - SCOPE_MARGIN
    # up to now, not only to the walked days' end: DIGIT's clock and ours need not agree
    until = max(datetime.combine(last, datetime.min.time(), tzinfo=tz) + timedelta(days=1), clock())
    scopes = scopes_for(
        ledger_scopes=findings.collected_scopes(since, until),
        device_tenants=findings.device_tenants(),
        cities_of=digit.cities,
        modules=settings.collectable_services,
    )
    walker = ReverseReconciler(
        ledger=payments,
        digit=digit,
        findings=findings,
        clock=clock,
        timezone=tz,
        on_finding=RedisMetrics(redis).reconciliation_flagged,
    )
    report = walker.walk(first=first, last=last, scopes=scopes)
    ReconciliationStore(db).save_last_run(report.summary())
    return report


def walk_digit_payments(
    first_day: str | None = None, last_day: str | None = None
) -> dict[str, Any]:
    """RQ job: walk DIGIT's payments of `first_day`..`last_day` (ISO dates; default the
    DAILY_WALK_DAYS days before today in DIGIT_TIMEZONE); the summary is the job's result."""
    from integrator.jobs import context

    ctx = context.current()
    today = datetime.now(ctx.settings.digit_timezone).date()
    first = date.fromisoformat(first_day) if first_day else today - timedelta(DAILY_WALK_DAYS)
    last = date.fromisoformat(last_day) if last_day else today - timedelta(days=1)
    report = run_digit_walk(
        settings=ctx.settings,
        redis=ctx.redis,
        db=ctx.db,
        payments=ctx.payments,
        digit=ctx.digit,
        first=first,
        last=last,
        clock=ctx.clock,
    )
    return report.summary()


def daily_walk_job_id(day: date) -> str:
    return f"reconcile-digit-payments-{day.isoformat()}"


def enqueue_daily_walk(redis: redis_lib.Redis, queue_name: str, today: date) -> bool:
    """Enqueue today's walk of DIGIT's payments unless one exists; True when enqueued."""
    job_id = daily_walk_job_id(today)
    try:
        Job.fetch(job_id, connection=redis)
        return False
    except NoSuchJobError:
        pass
    Queue(queue_name, connection=redis).enqueue(
        walk_digit_payments,
        job_id=job_id,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        description=f"walk DIGIT's payments for what the ledger does not explain ({today})",
    )
    return True
