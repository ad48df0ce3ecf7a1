"""Health at a glance: DIGIT, the registration workers and queue, the oldest pending payment,
Redis memory. Each part is gathered on its own, so one failing part never hides the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis as redis_lib

from integrator.digit.client import DigitClient
from integrator.digit.models import AuthState
from integrator.digit.roles import CapabilityRow
from integrator.observability.queues import QueueInspector, WorkerInfo
from integrator.payments.models import PaymentStatus
from integrator.payments.use_cases import LedgerUnavailable

__all__ = ["DigitHealth", "Health", "QueueHealth", "WorkerInfo", "digit_health", "queue_health"]


class OldestPending(Protocol):
    """The ledger read the queue view needs (store.payments.PaymentStore)."""

    def oldest_created(self, status: PaymentStatus) -> datetime | None: ...


@dataclass(frozen=True, kw_only=True)
class QueueHealth:
    workers: tuple[WorkerInfo, ...] = ()
    queued: int = 0
    scheduled: int = 0
    failed: int = 0
    oldest_pending_at: datetime | None = None
    oldest_pending_age_seconds: int | None = None
    redis_memory: str = "?"
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DigitHealth:
    reachable: bool | None = None  # None: not asked
    auth: AuthState | None = None
    cities: tuple[CapabilityRow, ...] = ()  # per city and module, what the roles allow
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Health:
    queue: QueueHealth
    digit: DigitHealth = field(default_factory=DigitHealth)


def queue_health(
    redis: redis_lib.Redis, *, queues: QueueInspector, ledger: OldestPending, now: datetime
) -> QueueHealth:
    """Workers alive, queue depth, scheduled jobs, oldest PENDING payment, Redis memory."""
    errors: list[str] = []
    workers: list[WorkerInfo] = []
    queued = scheduled = failed = 0
    try:
        workers = queues.workers()
        counts = queues.counts(queues.registration_queue)
        queued, scheduled, failed = counts.queued, counts.scheduled, counts.failed
    except redis_lib.RedisError as exc:
        errors.append(f"queue: {type(exc).__name__}")
    oldest: datetime | None = None
    memory = "?"
    try:
        oldest = ledger.oldest_created(PaymentStatus.PENDING)
    except LedgerUnavailable as exc:
        errors.append(f"ledger: {type(exc).__name__}")
    try:
        info: dict[str, Any] = redis.info("memory")
        memory = str(info.get("used_memory_human", "?"))
    except redis_lib.RedisError as exc:
        errors.append(f"redis: {type(exc).__name__}")
    return QueueHealth(
        workers=tuple(sorted(workers, key=lambda w: w.name)),
        queued=queued,
        scheduled=scheduled,
        failed=failed,
        oldest_pending_at=oldest,
        oldest_pending_age_seconds=None if oldest is None else int((now - oldest).total_seconds()),
        redis_memory=memory,
        errors=tuple(errors),
    )


def digit_health(digit: Callable[[], DigitClient]) -> DigitHealth:
    """Is DIGIT's gateway answering (a ping, a few seconds at most), and our login state."""
    errors: list[str] = []
    reachable: bool | None = None
    auth: AuthState | None = None
    cities: tuple[CapabilityRow, ...] = ()
    try:
        client = digit()
        reachable = client.ping()
        auth = client.auth_state()
        cities = tuple(client.capabilities())
    except Exception as exc:  # a health page shows what broke, it never breaks itself
        errors.append(f"digit: {type(exc).__name__}")
    return DigitHealth(reachable=reachable, auth=auth, cities=cities, errors=tuple(errors))


@dataclass(frozen=True, kw_only=True)
class DigitTrouble:
    """How long DIGIT has been unreachable (the workers' "down since"), and how long logins
    have been locked (by DIGIT or by our own guard after refused logins)."""

    down_since: datetime | None = None
    down_seconds: int | None = None
    locked_since: datetime | None = None
    locked_seconds: int | None = None
    lock_kind: str | None = None
    lock_reason: str | None = None
    errors: tuple[str, ...] = ()


def digit_trouble(redis: redis_lib.Redis, *, now: datetime) -> DigitTrouble:
    from integrator.store.outage import digit_down_since
    from integrator.store.tokens import TokenStore

    errors: list[str] = []
    down_since: datetime | None = None
    lock = None
    try:
        raw = digit_down_since(redis)
        down_since = datetime.fromisoformat(raw) if raw else None
        lock = TokenStore(redis).login_lock()
    except (redis_lib.RedisError, ValueError) as exc:
        errors.append(f"redis: {type(exc).__name__}")
    locked_since = (
        datetime.fromtimestamp(lock.since, tz=UTC) if lock is not None and lock.since else None
    )
    return DigitTrouble(
        down_since=down_since,
        down_seconds=None if down_since is None else int((now - down_since).total_seconds()),
        locked_since=locked_since,
        locked_seconds=None if locked_since is None else int((now - locked_since).total_seconds()),
        lock_kind=lock.kind if lock is not None else None,
        lock_reason=lock.reason if lock is not None else None,
        errors=tuple(errors),
    )


def duration(seconds: int | None) -> str:
    """`2 h 05 min`, `4 min 10 s`: how long, for people."""
    if seconds is None:
        return ""
    seconds = max(0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
