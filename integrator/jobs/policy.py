"""The retry policy of registration jobs: the one place that decides when to try again.

RETRY_LATER   next wait from `retry_schedule_seconds` by the payment's spent attempts (the last
              entry repeats: 10 s, 30 s, 2 min, 10 min, 30 min, then hourly), with jitter; a
              payment whose create may still be committing waits at least the lease TTL; the
              wait never runs past the payment's deadline (created + retry_max_age_seconds),
              after which the job gives up: NEEDS_ATTENTION, RETRIES_EXHAUSTED
AUTH_BLOCKED  `auth_blocked_retry_seconds`, no attempt spent (the payment's last_error says why),
              until the payment has been blocked `auth_blocked_max_seconds` in a row: then the job
              gives up, NEEDS_ATTENTION DIGIT_FORBIDDEN (a 403: the account's roles) or
              DIGIT_AUTH_BLOCKED (login or token)
BUSY          another attempt holds the lease: after the lease TTL
REGISTERED, NEEDS_ATTENTION, FINISHED: decided, no further job
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.registration import AttemptOutcome, AttemptResult, last_attempt
from integrator.settings import Settings

#: Attempt reasons (the DIGIT error's class) that mean "no usable DIGIT authorisation".
AUTH_BLOCKED_CAUSES = frozenset(
    {
        "DigitAuthError",
        "DigitAuthLocked",
        "DigitAccountLocked",
        "DigitTokenRefused",
        "DigitForbidden",
    }
)

#: Every wait is spread by up to this fraction either way, so a burst of payments that failed
#: together (DIGIT down) does not come back together.
JITTER_FRACTION = 0.1


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When the next registration attempt of a payment runs (see the module docstring)."""

    schedule_seconds: tuple[int, ...]
    max_age_seconds: int
    auth_blocked_seconds: int
    lease_ttl_seconds: float
    auth_blocked_max_seconds: int = 21600
    jitter: float = JITTER_FRACTION
    rng: Callable[[], float] = field(default=random.random, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            schedule_seconds=settings.retry_schedule_seconds,
            max_age_seconds=settings.retry_max_age_seconds,
            auth_blocked_seconds=settings.auth_blocked_retry_seconds,
            lease_ttl_seconds=settings.lease_ttl_seconds,
            auth_blocked_max_seconds=settings.auth_blocked_max_seconds,
        )

    def blocked_too_long(self, payment: Payment | None, now: datetime) -> bool:
        """Whether the payment's attempts have ended without a usable DIGIT authorisation for
        longer than the bound, in a row (see `blocked_since`)."""
        since = blocked_since(payment) if payment is not None else None
        if since is None:
            return False
        return now - since >= timedelta(seconds=self.auth_blocked_max_seconds)

    def deadline(self, payment: Payment) -> datetime:
        """RETRY_MAX_AGE_SECONDS after acceptance, or after the last time the payment was put
        back to PENDING (an operator's retry gives it a fresh round of attempts)."""
        return retry_window_start(payment) + timedelta(seconds=self.max_age_seconds)

    def exhausted(self, payment: Payment | None, now: datetime) -> bool:
        """A PENDING payment past its deadline whose last attempt spent one (RETRY_LATER)."""
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return False
        if now < self.deadline(payment):
            return False
        last = last_attempt(payment)
        return (
            last is not None
            and last.at >= retry_window_start(payment)  # an attempt of this round
            and bool(last.detail.get("spent", True))
        )

    def next_delay(self, outcome: AttemptOutcome, now: datetime) -> int | None:
        """Whole seconds until the next attempt, or None when the payment is decided."""
        result = outcome.result
        if result is AttemptResult.RETRY_LATER:
            payment = outcome.payment
            spent = payment.attempts if payment is not None else 1
            base = float(self.schedule_seconds[min(max(spent, 1), len(self.schedule_seconds)) - 1])
            delay = self._jittered(base)
            if payment is not None and payment.create_sent:
                # the lease is left to expire after an unknown outcome: no earlier look is allowed
                delay = max(delay, self.lease_ttl_seconds + 1)
            if payment is not None:
                left = (self.deadline(payment) - now).total_seconds()
                delay = min(delay, max(left, self.lease_ttl_seconds + 1))
            return _whole(delay)
        if result is AttemptResult.AUTH_BLOCKED:
            return _whole(self._jittered(float(self.auth_blocked_seconds)))
        if result is AttemptResult.BUSY:
            return _whole(self.lease_ttl_seconds + 1)
        return None

    def _jittered(self, seconds: float) -> float:
        return seconds * (1 + self.jitter * (2 * self.rng() - 1))


def _whole(seconds: float) -> int:
    """RQ's Retry takes whole seconds (0 would mean "now", which a retry never is)."""
    return max(1, math.ceil(seconds))


def blocked_since(payment: Payment) -> datetime | None:
    """When the payment's current streak of attempts blocked on DIGIT authorisation began, or
    None when its last attempt was not blocked.

    Identical attempts share one history entry, but a change of cause (DIGIT locking the account,
    then our own login guard, then DIGIT again...) starts a new one: the streak is every
    consecutive attempt entry with an AUTH_BLOCKED_CAUSES reason, back to the first. Any other
    attempt, or a change of status (an operator's retry puts it back to PENDING), ends it;
    entries that are not attempts (create_sent, retargeted, ...) do not."""
    since: datetime | None = None
    for entry in reversed(payment.history):
        if entry.event == "transition":
            break
        if entry.event != "attempt":
            continue
        if entry.reason not in AUTH_BLOCKED_CAUSES:
            break
        since = entry.at
    return since


def retry_window_start(payment: Payment) -> datetime:
    """When the payment's current round of attempts began: its last return to PENDING (an
    operator's retry), else its acceptance."""
    for entry in reversed(payment.history):
        if entry.event == "transition" and entry.to_status is PaymentStatus.PENDING:
            return entry.at
    return payment.created_at
