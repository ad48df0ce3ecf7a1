"""When an earlier create's outcome is unknown, and when that clock is not restarted (no I/O)."""

from __future__ import annotations

from datetime import timedelta

from integrator.payments import states
from integrator.payments.registration import (
    CREATE_UNANSWERED,
    unanswered_create,
    unsettled_create_since,
)
from tests.unit.payments.payment_factories import NOW, make_payment


def _sent(payment, minutes):  # type: ignore[no-untyped-def]
    return states.mark_create_sent(
        payment, payment.bill_ids, actor="worker", at=NOW + timedelta(minutes=minutes)
    )


def _attempt(payment, minutes, **detail):  # type: ignore[no-untyped-def]
    return states.record(
        payment,
        "attempt",
        actor="worker",
        at=NOW + timedelta(minutes=minutes),
        reason="DigitUnavailable" if detail else "BILL_EXPIRED",
        detail={"spent": True, **detail},
    )


def test_a_payment_whose_creates_all_got_an_answer_has_nothing_to_settle() -> None:
    payment = _attempt(_sent(make_payment(), 0), 1)
    assert unsettled_create_since(payment) is None


def test_the_clock_starts_at_the_create_whose_answer_never_came() -> None:
    payment = _attempt(_sent(make_payment(), 0), 1, createUnknown=True)
    assert unsettled_create_since(payment) == NOW


def test_a_create_refused_later_does_not_restart_the_clock() -> None:
    payment = _attempt(_sent(make_payment(), 0), 1, createUnknown=True)
    for minute in (5, 10, 15):  # each new create met BILL_EXPIRED: nothing written
        payment = _attempt(_sent(payment, minute), minute + 1)
    assert unsettled_create_since(payment) == NOW


def test_a_later_unknown_create_moves_the_clock_on() -> None:
    payment = _attempt(_sent(make_payment(), 0), 1, createUnknown=True)
    payment = _attempt(_sent(payment, 30), 31, createUnknown=True)
    assert unsettled_create_since(payment) == NOW + timedelta(minutes=30)


def test_a_create_whose_attempt_died_before_recording_an_outcome_is_unknown() -> None:
    # SIGKILL after "create sent": nothing recorded; the next attempt found nothing in DIGIT
    # (not committed yet), sent another create and was refused
    payment = _attempt(_sent(_sent(make_payment(), 0), 5), 6)
    assert unsettled_create_since(payment) == NOW


def test_the_callers_own_create_at_the_end_of_the_history_is_not_unknown() -> None:
    payment = _sent(_attempt(_sent(make_payment(), 0), 1), 5)  # being answered right now
    assert unsettled_create_since(payment) is None


def _found_unanswered(payment, minutes):  # type: ignore[no-untyped-def]
    return states.record(
        payment, CREATE_UNANSWERED, actor="worker", at=NOW + timedelta(minutes=minutes)
    )


def test_a_create_found_unanswered_stays_unknown_whatever_is_recorded_after_it() -> None:
    # the attempt that sent it died; the next one noted it, then its look-up was refused
    # (account locked) and it recorded an attempt that says nothing about that create
    payment = _attempt(_found_unanswered(_sent(make_payment(), 0), 5), 5)
    assert unanswered_create(payment) is None
    assert unsettled_create_since(payment) == NOW
    payment = _attempt(_sent(payment, 70), 71)  # a later create, refused (BILL_EXPIRED)
    assert unsettled_create_since(payment) == NOW


def test_a_create_with_no_outcome_is_found_unanswered_once() -> None:
    payment = _sent(make_payment(), 0)
    assert unanswered_create(payment) == NOW
    assert unanswered_create(_attempt(payment, 1)) is None
    assert unanswered_create(_found_unanswered(payment, 5)) is None
