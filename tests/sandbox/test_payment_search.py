"""Payment search paging and `search.ignore.status` (digest 5.5, Corrections 11)."""

from __future__ import annotations

from typing import Any

from tests.sandbox.conftest import AMRITSAR, WS_RAMESH, Digit, body_of
from tests.support.processes import sandbox_server

SEARCH = "/collection-services/payments/WS/_search"


def counter_payments(digit: Digit, count: int) -> None:
    """`count` one-rupee counter payments on Ramesh's water connection, each on a new bill."""
    digit.admin("backupdate-lag", {"seconds": 0})
    for _ in range(count):
        digit.admin(
            "counter-payment",
            {"tenantId": AMRITSAR, "businessService": "WS", "consumerCode": WS_RAMESH, "amount": 1},
        )


def found(digit: Digit, **params: Any) -> list[dict[str, Any]]:
    response = digit.post(SEARCH, tenantId=AMRITSAR, consumerCodes=WS_RAMESH, **params)
    assert response.status_code == 200, response.text
    return body_of(response)["Payments"]  # type: ignore[no-any-return]


def test_search_pages_30_by_default_at_most_100_newest_first(digit: Digit) -> None:
    counter_payments(digit, 101)
    first_page = found(digit)
    assert len(first_page) == 30
    dates = [p["transactionDate"] for p in first_page]
    assert dates == sorted(dates, reverse=True)
    assert len(found(digit, limit=500)) == 100
    assert len(found(digit, limit=500, offset=100)) == 1
    assert len(found(digit, limit=10, offset=95)) == 6


def test_cancelled_payments_are_returned_by_default(digit: Digit) -> None:
    bill = digit.bill("PT-107-000123", "PT")
    [payment] = body_of(digit.pay([(bill, bill["totalAmount"])]))["Payments"]
    cancel = {
        "PaymentWorkflows": [{"paymentId": payment["id"], "action": "CANCEL", "tenantId": AMRITSAR}]
    }
    assert digit.post("/collection-services/payments/PT/_workflow", cancel).status_code == 200
    response = digit.post("/collection-services/payments/PT/_search", tenantId=AMRITSAR)
    assert [p["paymentStatus"] for p in body_of(response)["Payments"]] == ["CANCELLED"]


def test_search_ignore_status_hides_them_unless_status_or_receipt_numbers_are_given() -> None:
    with sandbox_server(extra_args=("--search-ignore-status", "CANCELLED")) as url:
        digit = Digit(url)
        assert digit.login().status_code == 200
        bill = digit.bill("PT-107-000123", "PT")
        [payment] = body_of(digit.pay([(bill, bill["totalAmount"])]))["Payments"]
        cancel = {
            "PaymentWorkflows": [
                {"paymentId": payment["id"], "action": "CANCEL", "tenantId": AMRITSAR}
            ]
        }
        assert digit.post("/collection-services/payments/PT/_workflow", cancel).status_code == 200
        path = "/collection-services/payments/PT/_search"
        assert body_of(digit.post(path, tenantId=AMRITSAR))["Payments"] == []
        receipt = payment["paymentDetails"][0]["receiptNumber"]
        for params in ({"status": "CANCELLED"}, {"receiptNumbers": receipt}):
            [hit] = body_of(digit.post(path, tenantId=AMRITSAR, **params))["Payments"]
            assert hit["id"] == payment["id"]
