"""The daily reconciliation job: REGISTERED payments re-checked against DIGIT.

    reconcile_payments(lookback_days=None)         the RQ job (thin: builds, runs, returns summary)
    enqueue_daily(redis, queue_name, today)        at most one job per day (DailyJob: deterministic
                                                   job id)
    run_reconciliation(wiring, lookback_days=None, limit=None)
                                                   the same run inline (`integrator reports
                                                   reconcile`, tests)

    walk_digit_payments(first_day=None, last_day=None)
                                                   the RQ job walking DIGIT's payments of some days
                                                   (default: the two days before today)
    enqueue_daily_walk(redis, queue_name, today)   at most one walk per day (deterministic job id)
    run_digit_walk(wiring, first, last)            the same walk inline (`integrator reports
                                                   reconcile --from --to`, chaos, tests)

Both runs take a `ReconcileWiring` (settings, ledger, Redis, DIGIT, clock): a worker's jobs build
it from their context, every other caller from its `Services`.

The domain lives in `integrator.payments.reconciliation` and `.reverse_reconciliation`; flags in
`store.reconciliation` and findings in `store.findings` (the ledger); the flag counter of
/metrics in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis as redis_lib
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from integrator.digit.client import DigitClient
from integrator.observability.recorder import RedisMetrics
from integrator.payments.reconciliation import Reconciler, RunReport
from integrator.payments.reverse_reconciliation import ReverseReconciler, WalkReport, scopes_for
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.findings import FindingStore
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore

if TYPE_CHECKING:
    from integrator.services import Services

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


@dataclass(frozen=True, kw_only=True)
class ReconcileWiring:
    """What both runs are built from: the settings, the ledger, Redis (the /metrics flag
    counter), DIGIT and the clock."""

    settings: Settings
    redis: redis_lib.Redis
    db: Database
    payments: PaymentStore
    digit: DigitClient
    clock: Callable[[], datetime] = utc_now

    @classmethod
    def of_services(cls, services: Services) -> ReconcileWiring:
        """From a process's `Services` (the CLI, chaos, tests)."""
        return cls(
            settings=services.settings,
            redis=services.redis,
            db=services.db,
            payments=services.payments_store,
            digit=services.digit,
            clock=services.clock,
        )

    @classmethod
    def of_worker(cls) -> ReconcileWiring:
        """From the worker process's job context (the RQ jobs)."""
        from integrator.jobs import context

        ctx = context.current()
        return cls(
            settings=ctx.settings,
            redis=ctx.redis,
            db=ctx.db,
            payments=ctx.payments,
            digit=ctx.digit,
            clock=ctx.clock,
        )


@dataclass(frozen=True)
class DailyJob:
    """A job enqueued at most once a day: its id is the job's prefix and the day, and RQ keeps a
    finished or failed one RESULT_TTL_SECONDS, so a second enqueue that day is a no-op."""

    job: Callable[..., dict[str, Any]]
    id_prefix: str
    description: str  # {day} is replaced by the day

    def job_id(self, day: date) -> str:
        return f"{self.id_prefix}-{day.isoformat()}"

    def enqueue(self, redis: redis_lib.Redis, queue_name: str, today: date) -> bool:
        """Enqueue today's job unless RQ still knows one with today's id; True when enqueued."""
        job_id = self.job_id(today)
        try:
            Job.fetch(job_id, connection=redis)
            return False
        except NoSuchJobError:
            pass
        Queue(queue_name, connection=redis).enqueue(
            self.job,
            job_id=job_id,
            job_timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=RESULT_TTL_SECONDS,
            description=self.description.format(day=today.isoformat()),
        )
        return True


# --- the check of REGISTERED payments (forward reconciliation) ---


def run_reconciliation(
    wiring: ReconcileWiring, *, lookback_days: int | None = None, limit: int | None = None
) -> RunReport:
    """One run, inline."""
    days = wiring.settings.reconcile_lookback_days if lookback_days is None else lookback_days
    reconciler = Reconciler(
        payments=wiring.payments,
        digit=wiring.digit,
        flags=ReconciliationStore(wiring.db),
        clock=wiring.clock,
        on_flag=RedisMetrics(wiring.redis).reconciliation_flagged,
    )
    return reconciler.run(lookback=timedelta(days=days), limit=limit)


def reconcile_payments(lookback_days: int | None = None) -> dict[str, Any]:
    """RQ job: reconcile with the worker's context; the summary is the job's result."""
    return run_reconciliation(ReconcileWiring.of_worker(), lookback_days=lookback_days).summary()


DAILY_RECONCILIATION = DailyJob(
    reconcile_payments, "reconcile-payments", "reconcile REGISTERED payments ({day})"
)
daily_job_id = DAILY_RECONCILIATION.job_id
enqueue_daily = DAILY_RECONCILIATION.enqueue


# --- the walk of DIGIT's payments (reverse reconciliation) ---


def run_digit_walk(wiring: ReconcileWiring, *, first: date, last: date) -> WalkReport:
    """Walk DIGIT's payments of the days `first`..`last` (DIGIT_TIMEZONE) in every city and
    module the integrator collects in; record the findings in the ledger."""
    settings, clock = wiring.settings, wiring.clock
    findings = FindingStore(wiring.db)
    tz = settings.digit_timezone
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz) - SCOPE_MARGIN
    # up to now, not only to the walked days' end: DIGIT's clock and ours need not agree
    until = max(datetime.combine(last, datetime.min.time(), tzinfo=tz) + timedelta(days=1), clock())
    scopes = scopes_for(
        ledger_scopes=findings.collected_scopes(since, until),
        device_tenants=findings.device_tenants(),
        cities_of=wiring.digit.cities,
        modules=settings.collectable_services,
    )
    walker = ReverseReconciler(
        ledger=wiring.payments,
        digit=wiring.digit,
        findings=findings,
        clock=clock,
        timezone=tz,
        on_finding=RedisMetrics(wiring.redis).reconciliation_flagged,
    )
    report = walker.walk(first=first, last=last, scopes=scopes)
    ReconciliationStore(wiring.db).save_last_run(report.summary())
    return report


def walked_days(first_day: str | None, last_day: str | None, *, today: date) -> tuple[date, date]:
    """The days a walk covers: `first_day`..`last_day` (ISO dates), each defaulting to the
    DAILY_WALK_DAYS days before `today`."""
    first = date.fromisoformat(first_day) if first_day else today - timedelta(DAILY_WALK_DAYS)
    last = date.fromisoformat(last_day) if last_day else today - timedelta(days=1)
    return first, last


def walk_digit_payments(
    first_day: str | None = None, last_day: str | None = None
) -> dict[str, Any]:
    """RQ job: walk DIGIT's payments of `first_day`..`last_day` (ISO dates; default the
    DAILY_WALK_DAYS days before today in DIGIT_TIMEZONE); the summary is the job's result."""
    wiring = ReconcileWiring.of_worker()
    today = datetime.now(wiring.settings.digit_timezone).date()
    first, last = walked_days(first_day, last_day, today=today)
    return run_digit_walk(wiring, first=first, last=last).summary()


DAILY_WALK = DailyJob(
    walk_digit_payments,
    "reconcile-digit-payments",
    "walk DIGIT's payments for what the ledger does not explain ({day})",
)
daily_walk_job_id = DAILY_WALK.job_id
enqueue_daily_walk = DAILY_WALK.enqueue
