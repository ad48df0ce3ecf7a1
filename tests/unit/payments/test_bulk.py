"""Which retries an operator is offered, and how a bulk action reports what it did."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from integrator.ops.filters import BadFilter, Paging, filter_from
from integrator.payments.bulk import BulkResult, plan_retry, retry_refusal
from integrator.payments.models import PaymentStatus
from tests.unit.payments.payment_factories import make_payment

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("status", "reason", "refused"),
    [
        (PaymentStatus.NEEDS_ATTENTION, "DIGIT_REJECTED", None),
        (PaymentStatus.NEEDS_ATTENTION, "RETRIES_EXHAUSTED", None),
        (PaymentStatus.PENDING, None, None),
        (PaymentStatus.NEEDS_ATTENTION, "BILL_PAID_ELSEWHERE", "BILL_PAID_ELSEWHERE"),
        (PaymentStatus.NEEDS_ATTENTION, "DUPLICATE_IN_DIGIT", "DUPLICATE_IN_DIGIT"),
        (PaymentStatus.NEEDS_ATTENTION, "DIGIT_PAYMENT_CANCELLED", "DIGIT_PAYMENT_CANCELLED"),
        (PaymentStatus.REGISTERED, None, "NOT_RETRYABLE"),
        (PaymentStatus.RESOLVED, None, "NOT_RETRYABLE"),
    ],
)
def test_a_retry_is_offered_only_where_it_can_help(
    status: PaymentStatus, reason: str | None, refused: str | None
) -> None:
    payment = replace(make_payment(), status=status, needs_attention_reason=reason)
    found = retry_refusal(payment)
    assert (found[0] if found else None) == refused


def test_a_plan_keeps_the_eligible_and_says_why_the_rest_are_skipped() -> None:
    ok = replace(make_payment(), id="p-1", status=PaymentStatus.NEEDS_ATTENTION)
    hopeless = replace(
        make_payment(),
        id="p-2",
        status=PaymentStatus.NEEDS_ATTENTION,
        needs_attention_reason="BILL_PAID_ELSEWHERE",
    )
    plan = plan_retry([ok, hopeless])
    assert [p.id for p in plan.eligible] == ["p-1"]
    assert plan.skipped_by_code == {"BILL_PAID_ELSEWHERE": 1}


def test_a_bulk_result_says_how_many_and_why_not() -> None:
    result = BulkResult(acted=("a", "b"), skipped={"c": "BUSY", "d": "BUSY", "e": "CHANGED"})
    assert result.summary() == "retried 2, skipped 3 (BUSY: 2, CHANGED: 1)"


def test_filter_days_are_days_in_the_given_zone() -> None:
    wanted = filter_from({"from": "2026-11-21", "to": "2026-11-21"}, KOLKATA)
    assert wanted.created_since == datetime(2026, 11, 20, 18, 30, tzinfo=UTC)
    assert wanted.created_before == datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
    assert filter_from({}, KOLKATA).is_empty


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"from": "21/11/2026"}, "from: a date as YYYY-MM-DD"),
        ({"from": "2026-11-22", "to": "2026-11-21"}, "comes after the last"),
        ({"status": "DONE"}, "status: one of"),
        ({"mode": "BITCOIN"}, "mode: one of"),
        ({"mobile": "12"}, "mobile: give at least the last 4 digits"),
    ],
)
def test_a_bad_filter_names_the_field(args: dict[str, str], message: str) -> None:
    with pytest.raises(BadFilter, match=message):
        filter_from(args, KOLKATA)


def test_pages_go_both_ways() -> None:
    middle = Paging(page=2, total=120, size=50)
    assert (middle.newer, middle.older, middle.pages, middle.offset) == (1, 3, 3, 50)
    last = Paging(page=3, total=120, size=50)
    assert (last.older, last.first_shown, last.last_shown) == (None, 101, 120)
    assert Paging(page=1, total=0).pages == 1
