"""The reversal use cases on in-memory ports: DIGIT's rules decided from what DIGIT shows, the
device's window, and the tenant rule; nothing is sent to DIGIT when a rule refuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from integrator.digit.models import Bill, DigitPayment, DigitPaymentDetail, WorkflowItem
from integrator.payments.cancellation import (
    CancellationRefused,
    CancellationRequest,
    Cancellations,
    DuesState,
    Operator,
    RequestChanged,
    RequestExists,
    RequestState,
)
from integrator.payments.models import Payment, PaymentStatus
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

ASHA = Operator(name="asha", may_act=True)
RAVI = Operator(name="ravi", may_act=True)


class Requests:
    def __init__(self) -> None:
        self.rows: dict[str, CancellationRequest] = {}

    def add(self, request: CancellationRequest) -> None:
        if any(r.payment_id == request.payment_id for r in self.rows.values()):
            raise RequestExists(request.payment_id)
        self.rows[request.id] = request

    def get(self, request_id: str) -> CancellationRequest | None:
        return self.rows.get(request_id)

    def for_payment(self, payment_id: str) -> list[CancellationRequest]:
        return [r for r in self.rows.values() if r.payment_id == payment_id]

    def save(self, request: CancellationRequest) -> CancellationRequest:
        if self.rows[request.id].version != request.version:
            raise RequestChanged(request.id)
        stored = replace(request, version=request.version + 1)
        self.rows[request.id] = stored
        return stored

    def recent(
        self, *, states: Sequence[RequestState] = (), limit: int = 100
    ) -> list[CancellationRequest]:
        return list(self.rows.values())[:limit]


class Payments:
    def __init__(self, *payments: Payment) -> None:
        self.rows = {p.id: p for p in payments}

    def get(self, payment_id: str) -> Payment | None:
        return self.rows.get(payment_id)

    def save(self, payment: Payment, *, fence: int | None) -> Payment:
        self.rows[payment.id] = payment
        return payment


class Digit:
    def __init__(self, *payments: DigitPayment, may_cancel: bool | None = True) -> None:
        self.payments = list(payments)
        self.allowed = may_cancel
        self.sent: list[tuple[str, str, list[WorkflowItem]]] = []

    def search_payments(
        self, *, tenant_id: str, module: str, **criteria: Any
    ) -> list[DigitPayment]:
        return list(self.payments)

    def workflow(
        self, *, tenant_id: str, module: str, action: str, items: Sequence[WorkflowItem]
    ) -> list[DigitPayment]:
        self.sent.append((tenant_id, action, list(items)))
        return [replace(p, payment_status="CANCELLED") for p in self.payments]

    def fetch_bills(
        self, *, tenant_id: str, business_service: str, consumer_code: str
    ) -> list[Bill]:
        return []

    def may_cancel(self, module: str, tenant_id: str) -> bool | None:
        return self.allowed


class Quiet:
    def follow(self, request_id: str, *, delay_seconds: float) -> None:
        pass

    def payment_reversed(self, payment: Payment) -> None:
        pass


def digit_payment(
    pid: str = "dp-1",
    *,
    tenant: str = "pb.amritsar",
    mode: str = "CASH",
    instrument: str = "APPROVED",
    at: datetime = NOW,
    consumer: str = "WS/107/2019-20/000022",
    receipt: str = "R-1",
) -> DigitPayment:
    return DigitPayment(
        id=pid,
        tenant_id=tenant,
        payment_mode=mode,
        payment_status="NEW",
        instrument_status=instrument,
        total_amount_paid=Decimal(1200),
        transaction_number=None,
        transaction_date=at,
        paid_by=None,
        payer_name=None,
        mobile_number=None,
        additional_details={},
        details=(
            DigitPaymentDetail(
                id=f"d-{pid}",
                bill_id="bill-1",
                business_service="WS",
                receipt_number=receipt,
                receipt_date=at,
                total_due=Decimal(1200),
                amount_paid=Decimal(1200),
                consumer_code=consumer,
            ),
        ),
    )


def registered(**overrides: Any) -> Payment:
    return make_payment(
        **{
            "id": "pay-1",
            "status": PaymentStatus.REGISTERED,
            "digit_payment_id": "dp-1",
            "bills": (make_line(receipt_number="R-1"),),
            **overrides,
        }
    )


def use_cases(payment: Payment, digit: Digit, *, now: datetime = NOW) -> Cancellations:
    return Cancellations(
        requests=Requests(),
        payments=Payments(payment),
        digit=lambda: digit,
        dues=Quiet,
        notifier=Quiet,
        window=timedelta(minutes=30),
        dues_first_delay_seconds=0,
        clock=lambda: now,
    )


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> CancellationRefused:
    with pytest.raises(CancellationRefused) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_a_payment_digit_holds_in_another_tenant_is_refused_as_mixed_tenants() -> None:
    digit = Digit(digit_payment(tenant="pb.jalandhar"))
    cases = use_cases(registered(), digit)

    refused(
        "MIXED_TENANTS", cases.request_by_operator, operator=ASHA, payment_id="pay-1", reason="x"
    )
    assert digit.sent == []


@pytest.mark.parametrize(
    ("digit", "code"),
    [
        (Digit(digit_payment(instrument="REMITTED")), "INSTRUMENT_NOT_APPROVED"),
        (Digit(digit_payment(mode="ONLINE")), "MODE_NOT_CANCELLABLE"),
        (Digit(digit_payment(), may_cancel=False), "NO_WORKFLOW_ROLE"),
        (Digit(digit_payment(), may_cancel=None), "NO_WORKFLOW_ROLE"),
        (Digit(), "DIGIT_PAYMENT_NOT_FOUND"),
        (
            Digit(
                digit_payment(), digit_payment("dp-2", at=NOW + timedelta(minutes=1), receipt="R-2")
            ),
            "NOT_NEWEST",
        ),
    ],
)
def test_what_digit_would_refuse_is_refused_before_sending(digit: Digit, code: str) -> None:
    cases = use_cases(registered(), digit)

    error = refused(code, cases.request_by_operator, operator=ASHA, payment_id="pay-1", reason="x")

    assert digit.sent == []
    if code == "NOT_NEWEST":
        assert "R-2" in error.message


def test_an_older_payment_of_the_consumer_does_not_stop_the_newest() -> None:
    digit = Digit(digit_payment(), digit_payment("dp-0", at=NOW - timedelta(days=1), receipt="R-0"))
    cases = use_cases(registered(), digit)
    made = cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")

    done = cases.approve(made.id, operator=RAVI)

    assert done.state is RequestState.DONE
    [(tenant, action, [item])] = digit.sent
    assert (tenant, action, item.payment_id, item.reason) == ("pb.amritsar", "CANCEL", "dp-1", "x")


def test_the_device_window_counts_from_collection() -> None:
    payment = registered(collected_at=NOW - timedelta(minutes=31))
    cases = use_cases(payment, Digit(digit_payment()))

    refused(
        "WINDOW_PASSED", cases.request_by_device, device_id="dev-1", payment_id="pay-1", reason="x"
    )
    refused("NOT_FOUND", cases.request_by_device, device_id="dev-2", payment_id="pay-1", reason="x")
    assert cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")


@pytest.mark.parametrize(
    "reason", ["", "   ", "a" * 501, "wrong\u0000consumer", "wrong \ud800", "\u001b[2J"]
)
def test_an_operators_reason_empty_too_long_or_with_control_characters_is_refused(
    reason: str,
) -> None:
    digit = Digit(digit_payment())
    cases = use_cases(registered(), digit)

    error = refused(
        "REASON_REQUIRED",
        cases.request_by_operator,
        operator=ASHA,
        payment_id="pay-1",
        reason=reason,
    )

    assert error.field == "reason"
    assert cases.for_payment("pay-1") == []


@pytest.mark.parametrize(
    "status", [PaymentStatus.PENDING, PaymentStatus.NEEDS_ATTENTION, PaymentStatus.CANCELLED]
)
def test_only_a_registered_payment_can_be_reversed(status: PaymentStatus) -> None:
    cases = use_cases(registered(status=status), Digit(digit_payment()))

    refused(
        "NOT_REGISTERED", cases.request_by_operator, operator=ASHA, payment_id="pay-1", reason="x"
    )


def test_a_request_whose_sender_died_is_looked_up_not_sent_again() -> None:
    digit = Digit(
        replace(digit_payment(), payment_status="CANCELLED", instrument_status="CANCELLED")
    )
    cases = use_cases(registered(), Digit(digit_payment()))
    made = cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")
    requests = cases._requests
    assert isinstance(requests, Requests)
    sending = requests.save(
        replace(
            made,
            state=RequestState.SENDING,
            decided_by="operator:ravi",
            decided_at=NOW,
            sent_at=NOW,
        )
    )
    cases._digit = lambda: digit  # DIGIT did apply it before the sender died

    refused("NOT_PENDING", cases.approve, sending.id, operator=RAVI)  # maybe still in flight
    cases._clock = lambda: NOW + timedelta(minutes=6)
    done = cases.approve(sending.id, operator=RAVI)

    assert done.state is RequestState.DONE and digit.sent == []


def test_dues_still_gone_after_the_last_look_are_recorded_as_none_due() -> None:
    from integrator.payments.cancellation import DuesState

    cases = use_cases(registered(), Digit(digit_payment()))
    made = cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")
    done = cases.approve(made.id, operator=RAVI)
    assert done.dues_state is DuesState.FOLLOWING

    still = cases.follow_dues(done.id, last_try=False)
    assert still.dues_state is DuesState.FOLLOWING  # billing may not have re-opened them yet
    last = cases.follow_dues(done.id, last_try=True)

    assert last.dues_state is DuesState.NONE_DUE
    assert last.successor_bills == {"bill-1": None}
    payment = cases._payments.get("pay-1")
    assert payment is not None and payment.status is PaymentStatus.CANCELLED
    assert payment.history[-1].event == "dues_none"


# --- requests DIGIT left unanswered: looked up by the worker, never sent again ---

SETTLE = timedelta(hours=2)


def _unknown(cases: Cancellations, digit: Digit) -> str:
    """A request whose `_workflow` call got no answer (DIGIT down for the call)."""
    made = cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")
    stored = cases.get(made.id)
    unknown = replace(stored, state=RequestState.UNKNOWN, sent_at=NOW, decided_by=RAVI.actor)
    cases._requests.rows[made.id] = unknown  # type: ignore[attr-defined]
    return made.id


@pytest.mark.parametrize(
    ("shown", "minutes", "state"),
    [
        ("reversed", 5, RequestState.DONE),  # applied late: completed at once
        ("live", 5, RequestState.UNKNOWN),  # may still be applied: wait
        ("live", 121, RequestState.REFUSED),  # can no longer be: closed as never applied
        ("missing", 121, RequestState.UNKNOWN),  # DIGIT does not show it: nothing to go by
    ],
)
def test_the_worker_settles_a_reversal_left_unanswered_only_on_what_digit_shows(
    shown: str, minutes: int, state: RequestState
) -> None:
    digit = Digit(digit_payment())
    later = NOW + timedelta(minutes=minutes)
    cases = use_cases(registered(), digit, now=later)
    request_id = _unknown(cases, digit)
    if shown == "reversed":
        digit.payments = [replace(digit_payment(), payment_status="CANCELLED")]
        digit.payments = [replace(p, instrument_status="CANCELLED") for p in digit.payments]
    elif shown == "missing":
        digit.payments = []

    settled = cases.settle_unanswered(request_id, settle=SETTLE)

    assert settled.state is state
    assert digit.sent == []  # looked up, never sent
    if state is RequestState.REFUSED:
        assert settled.digit_message and "never applied" in settled.digit_message


@pytest.mark.parametrize(("hours", "stopped"), [(1, False), (5, True)])
def test_dues_still_followed_long_after_the_reversal_are_given_up_not_followed_for_good(
    hours: int, stopped: bool
) -> None:
    digit = Digit(digit_payment())
    cases = use_cases(registered(), digit, now=NOW + timedelta(hours=hours))
    made = cases.request_by_operator(operator=ASHA, payment_id="pay-1", reason="x")
    following = replace(
        cases.get(made.id),
        state=RequestState.DONE,
        decided_by=RAVI.actor,
        completed_at=NOW,
        dues_state=DuesState.FOLLOWING,
    )
    cases._requests.rows[made.id] = following  # type: ignore[attr-defined]

    assert cases.stop_following(made.id, overdue=timedelta(hours=2)) is stopped

    expected = DuesState.GAVE_UP if stopped else DuesState.FOLLOWING
    assert cases.get(made.id).dues_state is expected
