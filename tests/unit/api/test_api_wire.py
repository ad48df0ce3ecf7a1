"""One time zone and one scale of amounts in every answer of the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrator import jsonutil
from integrator.api.wire import Wire
from integrator.payments.cash import DeviceLimits, Holding
from integrator.payments.models import PaymentStatus
from integrator.payments.offline import ItemResult, OfflineItem, Outcome
from tests.unit.api.conftest import (
    NOW,
    Edge,
    FakeCash,
    FakeUploads,
    build_edge,
    make_bill,
    make_offer,
    make_payment,
    valid_body,
    with_offline,
)

ISO_WITH_IST = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+05:30")
TIME_KEYS = re.compile(r"(Date|At|From|To)$")
AMOUNT_KEYS = {"amount", "totalAmount", "minimumPayable", "maximumPayable", "amountPaid"}
AMOUNT_KEYS |= {"totalDue", "offlineCashLimit", "cashInHandCap", "servedTotal", "currentTotal"}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("5913.0"), "5913"),
        (Decimal("815.00"), "815"),
        (Decimal("815"), "815"),
        (Decimal("1E+3"), "1000"),
        (Decimal("100.5"), "100.50"),
        (Decimal("100.50"), "100.50"),
        (Decimal("0.125"), "0.125"),
        (None, None),
    ],
)
def test_amounts_have_one_scale(value: Decimal | None, written: str | None) -> None:
    amount = Wire.amount(value)

    assert (None if amount is None else str(amount)) == written


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "2024-05-01T15:30:00+05:30"),
        (datetime(2024, 5, 1, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "2024-05-01T15:30:00+05:30"),
        (datetime(2024, 5, 1, 10, 0), "2024-05-01T15:30:00+05:30"),  # naive: UTC
        (None, None),
    ],
)  # fmt: skip
def test_timestamps_have_one_offset(value: datetime | None, written: str | None) -> None:
    assert Wire().timestamp(value) == written


def test_another_digit_timezone_gives_its_offset() -> None:
    wire = Wire(ZoneInfo("Asia/Kathmandu"))

    assert wire.timestamp(NOW) == "2024-05-01T15:45:00+05:45"


def walk(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in walk(v, k)]
    if isinstance(value, list):
        return [pair for v in value for pair in walk(v, key)]
    return [(key, value)]


def assert_on_the_wire(text: str, body: Any) -> int:
    """Every time has +05:30, every amount is a plain number, whole rupees without decimals."""
    checked = 0
    for key, value in walk(body):
        if TIME_KEYS.search(key) and value is not None and key != "instrumentDate":
            assert ISO_WITH_IST.fullmatch(value), (key, value)
            checked += 1
        if key in AMOUNT_KEYS and value is not None:
            assert isinstance(value, int | Decimal) and not isinstance(value, bool), (key, value)
            checked += 1
    assert not re.search(r'"(amount|totalAmount|minimumPayable|maximumPayable|amountPaid|'
                         r'totalDue|offlineCashLimit|cashInHandCap|servedTotal|currentTotal)'
                         r'":-?\d+\.0*[,}]', text), text  # fmt: skip
    return checked


def registered_edge() -> Edge:
    def configure(payments: Any) -> None:
        payments.offers = [make_offer(make_bill(total="5913.0"))]

    return build_edge(configure=configure)


def test_every_answer_writes_times_and_amounts_one_way() -> None:
    edge = registered_edge()
    h = edge.headers()
    answers = [
        edge.client.get("/v1/bills?tenantId=pb&mobileNumber=9876543210", headers=h),
        edge.post_payment(valid_body(bills=[{"billId": "bill-1", "amount": Decimal("815.00")}])),
        edge.post_payment(key=None, path="/v1/payments/validate"),
        edge.client.get("/v1/payments/pay-1", headers=h),
        edge.client.get("/v1/payments?idempotencyKey=key-1", headers=h),
        edge.client.get(
            "/v1/receipts?receiptNumber=05/2024-25/000001&tenantId=pb.amritsar&businessService=WS",
            headers=h,
        ),
    ]

    checked = 0
    for response in answers:
        assert response.status_code < 300, response.get_data(as_text=True)
        checked += assert_on_the_wire(response.get_data(as_text=True), response.get_json())
    assert checked >= 20
    bills_text = answers[0].get_data(as_text=True)
    assert '"totalAmount":5913,' in bills_text and "5913.0" not in bills_text
    assert '"amount":815,' in answers[1].get_data(as_text=True)


def quarantined_with_amounts_of_another_scale(item: OfflineItem) -> ItemResult:
    """Quarantined as the domain says it: its limits as configured (OFFLINE_CASH_LIMIT=20000.00)
    and the bill's totals as DIGIT wrote them (1500.0)."""
    if item.idempotency_key == "over-limit":
        conflict: dict[str, object] = {
            "code": "OFFLINE_CASH_LIMIT_EXCEEDED",
            "message": "this upload carries more cash than a device may collect offline",
            "offlineMaxAgeSeconds": 3600,
            "offlineCashLimit": Decimal("20000.00"),
        }
    else:
        conflict = {
            "code": "BILL_NOT_PAYABLE",
            "message": "the bill expired",
            "violations": [
                {"code": "BILL_NOT_PAYABLE", "field": "bills[0].billId", "message": "expired"}
            ],
            "bills": [
                {
                    "billId": "bill-1",
                    "amount": Decimal("1200.0"),
                    "servedTotal": Decimal("1500.0"),
                    "currentBillId": "bill-2",
                    "currentTotal": Decimal("1500.00"),
                }
            ],
        }
    return ItemResult(
        idempotency_key=item.idempotency_key,
        outcome=Outcome.QUARANTINED,
        payment=make_payment(status=PaymentStatus.NEEDS_ATTENTION, key=item.idempotency_key),
        code=str(conflict["code"]),
        conflict=conflict,
    )


def test_the_offline_and_cash_answers_write_amounts_one_way() -> None:
    edge = build_edge()
    limits = DeviceLimits(
        offline_max_age_seconds=3600,
        offline_cash_limit=Decimal("20000.00"),
        cash_in_hand_cap=Decimal("5E+4"),
    )
    holdings = [
        Holding(tenant_id="pb.amritsar", payment_mode="CASH", amount=Decimal("1130.00")),
        Holding(tenant_id="pb.jalandhar", payment_mode="CASH", amount=Decimal("315.0")),
    ]
    uploads = FakeUploads(answer=quarantined_with_amounts_of_another_scale)
    with_offline(edge, cash=FakeCash(limits_of=limits, holdings=holdings), uploads=uploads)
    h = edge.headers()
    items = [
        {**valid_body(), "idempotencyKey": key, "collectedAt": "2024-05-01T14:00:00+05:30"}
        for key in ("over-limit", "expired")
    ]

    answers = [
        edge.client.get("/v1/devices/me/limits", headers=h),
        edge.client.get("/v1/devices/me/cash", headers=h),
        edge.client.post(
            "/v1/payments/batch",
            data=jsonutil.dumps({"payments": items}),
            headers=h,
            content_type="application/json",
        ),
    ]

    checked = 0
    for response in answers:
        assert response.status_code == 200, response.get_data(as_text=True)
        checked += assert_on_the_wire(response.get_data(as_text=True), response.get_json())
    assert checked >= 14
    limits_text, cash_text, batch_text = (a.get_data(as_text=True) for a in answers)
    assert '"offlineCashLimit":20000,' in limits_text and '"cashInHandCap":50000,' in limits_text
    assert '"byMode":[{"paymentMode":"CASH","amount":1445}]' in cash_text
    assert '"offlineCashLimit":20000}' in batch_text
    assert '"servedTotal":1500,' in batch_text and '"currentTotal":1500}' in batch_text


def test_the_app_zone_comes_from_its_dependencies() -> None:
    edge = build_edge(timezone=ZoneInfo("UTC"))
    edge.payments.payments[("dev-1", "k")] = make_payment(status=PaymentStatus.REGISTERED)

    body = edge.client.get("/v1/payments/pay-1", headers=edge.headers()).get_json()

    assert body["createdAt"] == "2024-05-01T10:00:00+00:00"
