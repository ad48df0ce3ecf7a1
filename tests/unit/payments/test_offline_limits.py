"""Which uploaded CASH payments are beyond the offline cash limit: counted in the order the money
was taken, so the same batch always quarantines the same payments, whatever its order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from integrator.payments.offline import OfflineItem, _over_cash_limit
from integrator.payments.use_cases import BillLine, PaymentRequest

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def item(key: str, amount: int, minutes: int, mode: str = "CASH") -> OfflineItem:
    return OfflineItem(
        idempotency_key=key,
        request=PaymentRequest(
            tenant_id="pb.amritsar",
            payment_mode=mode,
            paid_by="Ramesh Kumar",
            bills=(BillLine(bill_id=f"b-{key}", amount=Decimal(amount)),),
            collected_at=T0 + timedelta(minutes=minutes),
        ),
    )


@pytest.mark.parametrize(
    ("items", "limit", "over"),
    [
        ([item("a", 500, 0), item("b", 500, 1)], 1000, set()),
        ([item("a", 500, 0), item("b", 501, 1)], 1000, {1}),
        # the later collection is the one beyond the limit, wherever it is in the batch
        ([item("late", 600, 9), item("early", 600, 1)], 1000, {0}),
        # a smaller later one still fits after a bigger one was left out
        ([item("a", 900, 0), item("b", 200, 1), item("c", 100, 2)], 1000, {1}),
        # other modes do not count
        ([item("card", 5000, 0, "CARD"), item("a", 1000, 1)], 1000, set()),
    ],
)
def test_cash_beyond_the_offline_limit_is_chosen_by_collection_time(
    items: list[OfflineItem], limit: int, over: set[int]
) -> None:
    assert _over_cash_limit(items, Decimal(limit)) == over


@pytest.mark.parametrize(
    ("held", "over"),
    [
        (0, set()),
        (100, set()),
        (101, {1}),  # earlier uploads left 101 in hand: the later collection does not fit
        (601, {0, 1}),
    ],
)
def test_cash_the_device_already_holds_offline_counts_against_the_limit(
    held: int, over: set[int]
) -> None:
    items = [item("a", 400, 0), item("b", 500, 1)]

    assert _over_cash_limit(items, Decimal(1000), held=Decimal(held)) == over
