"""The retry policy: waits by outcome, attempts and deadline (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from integrator.jobs.policy import RetryPolicy
from integrator.payments import states
from integrator.payments.registration import AttemptOutcome, AttemptResult
from tests.unit.payments.payment_factories import NOW, make_payment

R = AttemptResult


def policy(**overrides: object) -> RetryPolicy:
    values: dict[str, object] = {
        "schedule_seconds": (10, 30, 120, 600, 1800, 3600),
        "max_age_seconds": 172800,
        "auth_blocked_seconds": 60,
        "lease_ttl_seconds": 30.0,
        "rng": lambda: 0.5,  # no jitter
    }
    values.update(overrides)
    return RetryPolicy(**values)  # type: ignore[arg-type]


def retry_later(attempts: int, *, create_sent: bool = False, age: float = 0) -> AttemptOutcome:
    payment = make_payment(created_at=NOW - timedelta(seconds=age))
    payment = replace(payment, attempts=attempts, create_sent=create_sent)
    return AttemptOutcome(result=R.RETRY_LATER, payment=payment, cause="DigitUnavailable")


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, 10), (2, 30), (3, 120), (4, 600), (5, 1800), (6, 3600), (7, 3600), (40, 3600)],
)
def test_retry_later_waits_follow_the_schedule_then_hourly(attempts: int, wait: int) -> None:
    assert policy().next_delay(retry_later(attempts), NOW) == wait


def test_jitter_spreads_waits_by_at_most_ten_percent() -> None:
    low = policy(rng=lambda: 0.0).next_delay(retry_later(6), NOW)
    high = policy(rng=lambda: 0.999999).next_delay(retry_later(6), NOW)
    assert low == 3240 and high == 3960


def test_a_create_with_unknown_outcome_waits_at_least_the_lease() -> None:
    assert policy().next_delay(retry_later(1, create_sent=True), NOW) == 31


def test_waits_never_run_past_the_deadline() -> None:
    outcome = retry_later(30, age=172800 - 100)
    assert policy().next_delay(outcome, NOW) == 100


@pytest.mark.parametrize(
    ("result", "wait"),
    [
        (R.AUTH_BLOCKED, 60),
        (R.BUSY, 31),
        (R.REGISTERED, None),
        (R.NEEDS_ATTENTION, None),
        (R.FINISHED, None),
    ],
)
def test_other_outcomes(result: AttemptResult, wait: int | None) -> None:
    assert policy().next_delay(AttemptOutcome(result=result), NOW) == wait


def test_exhausted_only_past_the_deadline_after_a_spent_attempt() -> None:
    p = policy(max_age_seconds=100)
    fresh = make_payment(created_at=NOW - timedelta(seconds=50))
    old = make_payment(created_at=NOW - timedelta(seconds=150))
    spent = states.record(old, "attempt", actor="worker", at=NOW, detail={"spent": True})
    blocked = states.record(old, "attempt", actor="worker", at=NOW, detail={"spent": False})
    assert not p.exhausted(fresh, NOW)
    assert not p.exhausted(old, NOW)  # never attempted
    assert p.exhausted(spent, NOW)
    assert not p.exhausted(blocked, NOW)  # only waiting for a token: no attempt was spent


def test_an_operator_retry_starts_a_fresh_round_of_attempts() -> None:
    created = NOW - timedelta(days=3)
    payment = make_payment(created_at=created)
    old = created + timedelta(hours=1)
    payment = states.record(
        payment, event="attempt", actor="worker", at=old, detail={"spent": True}
    )
    payment = replace(payment, attempts=9)
    payment = states.transition(
        payment,
        states.PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="RETRIES_EXHAUSTED",
        at=old,
    )
    assert policy().exhausted(payment, NOW) is False  # not PENDING: not the policy's call

    retried = states.transition(
        payment,
        states.PaymentStatus.PENDING,
        actor="operator:asha",
        reason="OPERATOR_RETRY",
        at=NOW - timedelta(minutes=1),
    )

    assert policy().deadline(retried) == NOW - timedelta(minutes=1) + timedelta(days=2)
    assert policy().exhausted(retried, NOW) is False  # the old attempt belongs to the old round
    assert policy().exhausted(retried, NOW + timedelta(days=3)) is False  # no attempt yet


def _blocked(cause: str, *, minutes: int) -> object:
    """A payment whose attempts have ended with `cause` once a minute for `minutes` minutes."""
    payment = make_payment(created_at=NOW)
    for minute in range(minutes + 1):
        payment = states.record(
            payment,
            "attempt",
            actor="worker",
            at=NOW + timedelta(minutes=minute),
            reason=cause,
            detail={"spent": False},
        )
    return payment


@pytest.mark.parametrize("cause", ["DigitAuthLocked", "DigitForbidden", "DigitTokenRefused"])
def test_a_payment_blocked_on_authorisation_is_given_up_after_the_bound(cause: str) -> None:
    bound = policy(auth_blocked_max_seconds=3600)
    payment = _blocked(cause, minutes=90)
    assert len(payment.history) == 1 and payment.history[0].count == 91  # type: ignore[attr-defined]
    assert not bound.blocked_too_long(payment, NOW + timedelta(minutes=59))  # type: ignore[arg-type]
    assert bound.blocked_too_long(payment, NOW + timedelta(minutes=60))  # type: ignore[arg-type]


def _attempts(payment: object, causes: list[str], *, start: int, minutes: int) -> object:
    """Attempts once a minute from minute `start` for `minutes` minutes, the cause switching
    every 5 hours through `causes`."""
    for minute in range(start, start + minutes):
        payment = states.record(
            payment,  # type: ignore[arg-type]
            "attempt",
            actor="worker",
            at=NOW + timedelta(minutes=minute),
            reason=causes[(minute // 300) % len(causes)],
            detail={"spent": False},
        )
    return payment


def test_a_change_of_authorisation_cause_does_not_restart_the_blocked_streak() -> None:
    # DIGIT locks the account, then our login is refused, then locked again...: 12 h blocked
    causes = ["DigitAccountLocked", "DigitAuthError"]
    payment = _attempts(make_payment(created_at=NOW), causes, start=0, minutes=12 * 60 + 1)
    assert len(payment.history) == 3  # type: ignore[attr-defined]  # one entry per cause change
    bound = policy(auth_blocked_max_seconds=6 * 3600)
    assert not bound.blocked_too_long(payment, NOW + timedelta(hours=6, seconds=-1))  # type: ignore[arg-type]
    assert bound.blocked_too_long(payment, NOW + timedelta(hours=6))  # type: ignore[arg-type]
    assert bound.blocked_too_long(payment, NOW + timedelta(hours=12))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("interruption", "event"),
    [("DigitUnavailable", "attempt"), (None, "transition")],
)
def test_the_blocked_streak_ends_at_another_outcome_or_a_change_of_status(
    interruption: str | None, event: str
) -> None:
    causes = ["DigitAccountLocked", "DigitAuthError"]
    payment = _attempts(make_payment(created_at=NOW), causes, start=0, minutes=5 * 60)
    at = NOW + timedelta(hours=5)
    if event == "attempt":
        payment = states.record(
            payment,  # type: ignore[arg-type]
            "attempt",
            actor="worker",
            at=at,
            reason=interruption,
            detail={"spent": True},
        )
    else:  # an operator's retry puts the payment back to PENDING
        payment = states.transition(
            states.transition(
                payment,  # type: ignore[arg-type]
                states.PaymentStatus.NEEDS_ATTENTION,
                actor="worker",
                reason="DIGIT_AUTH_BLOCKED",
                at=at,
            ),
            states.PaymentStatus.PENDING,
            actor="operator:asha",
            reason="OPERATOR_RETRY",
            at=at,
        )
    payment = _attempts(payment, causes, start=5 * 60 + 1, minutes=2 * 60)
    bound = policy(auth_blocked_max_seconds=6 * 3600)
    # blocked for 7 h in all, but only 2 h since the interruption (its streak began at +1 min)
    assert not bound.blocked_too_long(payment, NOW + timedelta(hours=7))  # type: ignore[arg-type]
    assert bound.blocked_too_long(payment, at + timedelta(hours=6, minutes=1))  # type: ignore[arg-type]


def test_other_causes_are_not_authorisation_blocks() -> None:
    payment = _blocked("DigitUnavailable", minutes=600)
    assert not policy(auth_blocked_max_seconds=60).blocked_too_long(
        payment, NOW + timedelta(days=1)
    )  # type: ignore[arg-type]
