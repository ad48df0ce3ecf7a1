"""Every metric the integrator exports, in one table (the alert rules test reads it too).

Counters and histograms are kept in Redis (`RedisMetrics`), so web and worker processes, however
many gunicorn forks, add to the same numbers and any process's /metrics shows them all. Gauges
are read from Redis (and RQ's registries) at scrape time by `integrator.observability.collector`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True, kw_only=True)
class Family:
    name: str  # without `_total` for counters (prometheus_client appends it)
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def exported_names(self) -> tuple[str, ...]:
        """The sample names this family produces in the text format."""
        if self.kind == "counter":
            return (f"{self.name}_total", f"{self.name}_created")
        if self.kind == "histogram":
            return tuple(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count", "_created"))
        return (self.name,)


_LATENCY = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
_REGISTRATION = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
_ATTEMPTS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0)
_BY_SERVICE = ("tenant", "service")

PAYMENTS_ACCEPTED = Family(
    name="integrator_payments_accepted",
    kind="counter",
    labels=_BY_SERVICE,
    help="Payments accepted from devices (a payment counts once per business service it pays).",
)
PAYMENTS_REGISTERED = Family(
    name="integrator_payments_registered",
    kind="counter",
    labels=_BY_SERVICE,
    help="Payments that reached REGISTERED (once per business service they pay).",
)
PAYMENTS_NEEDS_ATTENTION = Family(
    name="integrator_payments_needs_attention",
    kind="counter",
    labels=(*_BY_SERVICE, "reason"),
    help="Moves of payments to NEEDS_ATTENTION, by reason.",
)
REGISTRATION_LATENCY = Family(
    name="integrator_registration_latency_seconds",
    kind="histogram",
    labels=("tenant",),
    buckets=_REGISTRATION,
    help="From acceptance to REGISTERED.",
)
REGISTRATION_ATTEMPTS = Family(
    name="integrator_registration_attempts",
    kind="histogram",
    labels=("outcome",),
    buckets=_ATTEMPTS,
    help="Attempts a payment took when it was decided (REGISTERED or NEEDS_ATTENTION).",
)
DIGIT_REQUESTS = Family(
    name="integrator_digit_requests",
    kind="counter",
    labels=("endpoint", "status"),
    help="HTTP exchanges with DIGIT by endpoint and status (or timeout/unreachable).",
)
DIGIT_ERRORS = Family(
    name="integrator_digit_errors",
    kind="counter",
    labels=("endpoint", "code"),
    help="DIGIT Errors[].code values received, by endpoint.",
)
DIGIT_LATENCY = Family(
    name="integrator_digit_request_duration_seconds",
    kind="histogram",
    labels=("endpoint",),
    buckets=_LATENCY,
    help="Latency of DIGIT calls, answered or not.",
)
TOKEN_RENEWALS = Family(
    name="integrator_digit_token_renewals",
    kind="counter",
    labels=("kind",),
    help="Renewals of the shared DIGIT token: kind=login|refresh.",
)
RECONCILIATION_FLAGS = Family(
    name="integrator_reconciliation_flags",
    kind="counter",
    labels=("reason",),
    help="Payments newly flagged by reconciliation (MISSING, CANCELLED, DISHONOURED...).",
)

# --- gauges, computed at scrape time ---
PAYMENTS_BY_STATUS = Family(
    name="integrator_payments",
    kind="gauge",
    labels=("status",),
    help="Payments now in each status.",
)
PAYMENTS_FLAGGED = Family(
    name="integrator_payments_flagged",
    kind="gauge",
    help="REGISTERED payments reconciliation flagged for ops (not cleared).",
)
OLDEST_PENDING = Family(
    name="integrator_oldest_pending_age_seconds",
    kind="gauge",
    help="Age of the oldest PENDING payment (0 when there is none).",
)
QUEUE_JOBS = Family(
    name="integrator_queue_jobs",
    kind="gauge",
    labels=("queue", "state"),
    help="RQ jobs per queue: state=queued|scheduled|started|failed.",
)
WORKERS_ALIVE = Family(
    name="integrator_workers_alive",
    kind="gauge",
    help="RQ workers registered in Redis (their heartbeat keeps them there).",
)
AUTH_LOCKED = Family(
    name="integrator_digit_auth_locked",
    kind="gauge",
    help="1 while DIGIT logins are suspended after refused credentials.",
)
BAD_LOGINS = Family(
    name="integrator_digit_bad_logins",
    kind="gauge",
    help="Logins DIGIT refused in the current window.",
)
REDIS_MEMORY = Family(
    name="integrator_redis_used_memory_bytes", kind="gauge", help="Redis used_memory."
)
REDIS_MAXMEMORY = Family(
    name="integrator_redis_maxmemory_bytes", kind="gauge", help="Redis maxmemory (0: none)."
)
REDIS_UP = Family(
    name="integrator_redis_up", kind="gauge", help="1 when this scrape could read Redis."
)
RECONCILIATION_UNACKNOWLEDGED = Family(
    name="integrator_reconciliation_unacknowledged",
    kind="gauge",
    help="Reconciliation flags and findings (orphans, duplicates, differences in DIGIT) that no"
    " operator has acknowledged.",
)
RECONCILIATION_LAST_RUN = Family(
    name="integrator_reconciliation_last_run_timestamp_seconds",
    kind="gauge",
    help="When the last reconciliation run of this kind (run: forward, digit-walk) finished,"
    " complete or not (0: never).",
    labels=("run",),
)
RECONCILIATION_LAST_COMPLETE_RUN = Family(
    name="integrator_reconciliation_last_complete_run_timestamp_seconds",
    kind="gauge",
    help="When the last complete reconciliation run of this kind (run: forward, digit-walk)"
    " finished: not stopped (DIGIT down, our login broken) and no city or module left"
    " unsearched (0: never).",
    labels=("run",),
)

RECORDED: tuple[Family, ...] = (
    PAYMENTS_ACCEPTED,
    PAYMENTS_REGISTERED,
    PAYMENTS_NEEDS_ATTENTION,
    REGISTRATION_LATENCY,
    REGISTRATION_ATTEMPTS,
    DIGIT_REQUESTS,
    DIGIT_ERRORS,
    DIGIT_LATENCY,
    TOKEN_RENEWALS,
    RECONCILIATION_FLAGS,
)
GAUGES: tuple[Family, ...] = (
    PAYMENTS_BY_STATUS,
    PAYMENTS_FLAGGED,
    OLDEST_PENDING,
    QUEUE_JOBS,
    WORKERS_ALIVE,
    AUTH_LOCKED,
    BAD_LOGINS,
    REDIS_MEMORY,
    REDIS_MAXMEMORY,
    REDIS_UP,
    RECONCILIATION_LAST_RUN,
    RECONCILIATION_LAST_COMPLETE_RUN,
    RECONCILIATION_UNACKNOWLEDGED,
)
ALL: tuple[Family, ...] = RECORDED + GAUGES


def exported_names() -> frozenset[str]:
    """Every sample name /metrics can carry."""
    return frozenset(n for family in ALL for n in family.exported_names())
