"""The payment state machine: every transition allowed or refused, and what each records."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from integrator.payments import states
from integrator.payments.models import InvalidTransition, PaymentStatus
from tests.unit.payments.payment_factories import NOW, make_payment

P, R, N, X, C, D, F = (
    PaymentStatus.PENDING,
    PaymentStatus.REGISTERED,
    PaymentStatus.NEEDS_ATTENTION,
    PaymentStatus.RESOLVED,
    PaymentStatus.CANCELLED,
    PaymentStatus.DISHONOURED,
    PaymentStatus.REFUSED,
)
EXPECTED_ALLOWED = {(P, R), (P, N), (P, F), (N, P), (N, X), (R, C), (R, D)}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(PaymentStatus, repeat=2)))
def test_every_transition_is_allowed_or_refused_as_specified(
    source: PaymentStatus, target: PaymentStatus
) -> None:
    payment = make_payment(status=source)
    if (source, target) in EXPECTED_ALLOWED:
        moved = states.transition(payment, target, actor="worker", reason="why", at=NOW)
        assert moved.status is target
        assert payment.status is source  # the original is untouched
    else:
        with pytest.raises(InvalidTransition) as info:
            states.transition(payment, target, actor="worker", reason="why", at=NOW)
        assert info.value.from_status is source and info.value.to_status is target


def test_final_states_end_registration_and_only_registered_can_still_be_reversed() -> None:
    assert {R, X, C, D, F} == states.FINAL
    assert {P, N} == states.UNFINISHED
    for status in states.FINAL:
        assert states.is_final(status)
        expected = {C, D} if status is R else frozenset()
        assert states.ALLOWED[status] == expected


def test_allowed_sources_invert_the_table() -> None:
    assert states.allowed_sources(R) == {P}
    assert states.allowed_sources(P) == {N}
    assert states.allowed_sources(X) == {N}
    assert states.allowed_sources(N) == {P}
    assert states.allowed_sources(C) == {R}
    assert states.allowed_sources(D) == {R}
    assert states.allowed_sources(F) == {P}


def test_a_transition_is_recorded_with_time_actor_reason_and_codes() -> None:
    payment = make_payment()
    moved = states.transition(
        payment,
        N,
        actor="worker",
        reason="DIGIT refused",
        at=NOW,
        codes=["BILL_EXPIRED"],
        latency_ms=420,
        detail={"attempt": 1},
    )
    [entry] = moved.history
    assert entry.at == NOW and entry.actor == "worker" and entry.event == "transition"
    assert (entry.from_status, entry.to_status) == (P, N)
    assert entry.reason == "DIGIT refused" and entry.codes == ("BILL_EXPIRED",)
    assert entry.latency_ms == 420 and entry.detail == {"attempt": 1}
    assert moved.needs_attention_reason == "DIGIT refused"


def test_side_fields_follow_the_status() -> None:
    later = NOW + timedelta(minutes=1)
    registered = states.transition(make_payment(), R, actor="worker", reason="receipts", at=later)
    assert registered.registered_at == later
    attention = states.transition(
        make_payment(last_error="timeout"), N, actor="worker", reason="unclear", at=NOW
    )
    retried = states.transition(attention, P, actor="operator:asha", reason="retry", at=later)
    assert retried.needs_attention_reason is None and retried.last_error is None
    resolved = states.transition(attention, X, actor="operator:asha", reason="refunded", at=later)
    assert resolved.resolution == "refunded"
    assert [h.to_status for h in resolved.history] == [N, X]


def test_record_appends_an_event_without_changing_status() -> None:
    payment = states.record(make_payment(), "attempt", actor="worker", at=NOW, latency_ms=30)
    assert payment.status is P
    assert payment.history[-1].event == "attempt" and payment.history[-1].to_status is None


def test_mark_create_sent_only_grows_the_targeted_bills() -> None:
    first = states.mark_create_sent(make_payment(), ["b1", "b2"], actor="worker", at=NOW)
    second = states.mark_create_sent(first, ["b3"], actor="worker", at=NOW)
    assert first.create_sent and first.targeted_bill_ids == {"b1", "b2"}
    assert second.targeted_bill_ids == {"b1", "b2", "b3"}
    assert second.history[-1].event == "create_sent"


def test_only_a_pending_payment_may_be_sent() -> None:
    with pytest.raises(InvalidTransition):
        states.mark_create_sent(make_payment(status=R), ["b1"], actor="worker", at=NOW)
