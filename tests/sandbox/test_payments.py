"""collection-services in the sandbox: validation codes, enrichment, back-update (5, 6)."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.sandbox.conftest import AMRITSAR, WS_RAMESH, Digit, body_of, codes

TL_CODE = "PB-TL-2024-07-04-002271"
NOW_MS = int(time.time() * 1000)
DAY_MS = 86400 * 1000

BAD_PAYMENTS: list[tuple[str, str, Any, dict[str, Any], list[str]]] = [
    ("paidBy missing", "WS", None, {"paidBy": None}, ["NotNull.paymentRequest.payment.paidBy"]),
    ("paidBy digits", "WS", None, {"paidBy": "Ramesh2"}, ["Pattern.paymentRequest.payment.paidBy"]),
    (
        "payerName digits",
        "WS",
        None,
        {"payerName": "R2D2"},
        ["Pattern.paymentRequest.payment.payerName"],
    ),
    (
        "mobile",
        "WS",
        None,
        {"mobileNumber": "5876543210"},
        ["Pattern.paymentRequest.payment.mobileNumber"],
    ),
    (
        "unknown mode",
        "WS",
        None,
        {"paymentMode": "BITCOIN"},
        ["NotNull.paymentRequest.payment.paymentMode"],
    ),
    (
        "long txn",
        "WS",
        None,
        {"paymentMode": "CARD", "transactionNumber": "T" * 129, "instrumentNumber": "1"},
        ["Size.paymentRequest.payment.transactionNumber"],
    ),
    (
        "cheque bare",
        "WS",
        None,
        {"paymentMode": "CHEQUE"},
        ["INVALID_INST_DATE", "INVALID_INST_NUMBER"],
    ),
    (
        "card bare",
        "WS",
        None,
        {"paymentMode": "CARD"},
        ["INVALID_TXN_NUMBER", "INVALID_INSTRUMENT_NUMBER"],
    ),
    (
        "old cheque",
        "WS",
        None,
        {
            "paymentMode": "CHEQUE",
            "instrumentNumber": "123456",
            "instrumentDate": NOW_MS - 100 * DAY_MS,
        },
        ["CHEQUE_DD_DATE_WITH_RECEIPT_DATE"],
    ),
    (
        "future cheque",
        "WS",
        None,
        {
            "paymentMode": "CHEQUE",
            "instrumentNumber": "123456",
            "instrumentDate": NOW_MS + 5 * DAY_MS,
        },
        ["CHEQUE_DD_DATE_WITH_FUTURE_DATE"],
    ),
    (
        "cheque after txn date",
        "WS",
        None,
        {
            "paymentMode": "CHEQUE",
            "instrumentNumber": "1",
            "instrumentDate": NOW_MS,
            "transactionDate": NOW_MS - DAY_MS,
        },
        ["INVALID_CHEQUE_DD_DATE"],
    ),
    (
        "future neft",
        "WS",
        None,
        {
            "paymentMode": "OFFLINE_NEFT",
            "instrumentNumber": "N1",
            "instrumentDate": NOW_MS + 5 * DAY_MS,
        },
        ["INVALID_NEFT_RTGS_DATE"],
    ),
    (
        "mode not allowed",
        "WS",
        None,
        {"paymentMode": "DD", "instrumentNumber": "D1", "instrumentDate": NOW_MS - DAY_MS},
        ["INVALID_PAYMENTDETAIL"],
    ),
    ("fractional", "WS", Decimal("100.5"), {}, ["INVALID_PAYMENTDETAIL"]),
    ("zero", "WS", Decimal(0), {}, ["INVALID_PAYMENTDETAIL"]),
    ("negative", "WS", Decimal(-5), {}, ["INVALID_PAYMENTDETAIL"]),
    ("TL part payment", "TL", Decimal(100), {}, ["INVALID_PAYMENTDETAIL"]),
    ("TL advance", "TL", Decimal(2000), {}, ["INVALID_PAYMENTDETAIL"]),
]


@pytest.mark.parametrize(
    ("case", "service", "amount", "overrides", "expected"),
    BAD_PAYMENTS,
    ids=[row[0] for row in BAD_PAYMENTS],
)
def test_bad_payment_is_refused_with_digits_code(
    digit: Digit,
    case: str,
    service: str,
    amount: Any,
    overrides: dict[str, Any],
    expected: list[str],
) -> None:
    bill = digit.bill(TL_CODE, "TL") if service == "TL" else digit.bill()
    response = digit.pay([(bill, bill["totalAmount"] if amount is None else amount)], **overrides)
    assert response.status_code == 400, response.text
    assert body_of(response)["ResponseInfo"] is None
    assert sorted(codes(response)) == sorted(expected)
    assert digit.get("payments")["Payments"] == []


def test_missing_business_service_unknown_and_duplicate_bills(digit: Digit) -> None:
    bill = digit.bill()
    no_service = dict(bill, businessService="")
    assert codes(digit.pay([(no_service, 815)])) == ["INVALID_BUSINESS_DETAILS"]
    assert codes(digit.pay([(dict(bill, id="nope"), 815)])) == ["INVALID_BILL_ID"]
    assert codes(digit.pay([(bill, 400), (bill, 415)])) == ["DUPLICATE_BILLID"]


def test_expired_bill_is_refused_even_though_status_is_not_checked(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin("clock", {"advance_seconds": 16 * 86400})
    digit.login()
    assert codes(digit.pay([(bill, 815)])) == ["BILL_EXPIRED"]


def test_cash_payment_is_enriched_as_digit_does(digit: Digit) -> None:
    bill = digit.bill()
    response = digit.pay(
        [(bill, 815)], paymentMode="cash", transactionNumber="POS-1", totalDue=1, instrumentDate=1
    )
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["ResponseInfo"]["status"] == "200 OK"
    [payment] = body["Payments"]
    assert re.fullmatch(r"amritsar\d{10}", payment["transactionNumber"])
    assert payment["paymentMode"] == "CASH"
    assert payment["instrumentStatus"] == "APPROVED" and payment["paymentStatus"] == "NEW"
    assert payment["totalDue"] == 815 and payment["instrumentDate"] > 1
    assert payment["additionalDetails"] == {"posTxnId": "pos-1"}
    [detail] = payment["paymentDetails"]
    assert re.fullmatch(r"\d{2}/\d{4}-\d{2}/\d{6}", detail["receiptNumber"])
    assert detail["receiptType"] == "BILLBASED"
    assert detail["bill"]["partPaymentAllowed"] is True
    lines = [a for d in detail["bill"]["billDetails"] for a in d["billAccountDetails"]]
    assert sum(a["adjustedAmount"] for a in lines) == 815
    assert all(a["adjustedAmount"] == a["amount"] for a in lines)


def test_card_payment_keeps_its_transaction_number_and_is_remitted(digit: Digit) -> None:
    bill = digit.bill()
    response = digit.pay(
        [(bill, 815)], paymentMode="CARD", transactionNumber="POS-77", instrumentNumber="4111"
    )
    [payment] = body_of(response)["Payments"]
    assert payment["transactionNumber"] == "POS-77"
    assert payment["instrumentStatus"] == "REMITTED" and payment["paymentStatus"] == "DEPOSITED"


def test_partial_payment_then_after_the_lag_a_new_bill_for_the_remainder(digit: Digit) -> None:
    bill = digit.bill()
    assert digit.pay([(bill, 500)]).status_code == 200
    # inside the lag window billing still returns the old bill, and paying it again is refused
    assert digit.bill()["id"] == bill["id"]
    assert codes(digit.pay([(bill, 315)])) == ["BILL_ALREADY_PAID"]
    digit.admin("clock", {"advance_seconds": 1.5})
    remainder = digit.bill()
    assert remainder["id"] != bill["id"] and remainder["billNumber"] != bill["billNumber"]
    assert remainder["totalAmount"] == 315
    old = body_of(
        digit.post("/billing-service/bill/v2/_search", tenantId=AMRITSAR, billId=bill["id"])
    )["Bill"][0]
    assert old["status"] == "PAID"


def test_advance_shows_as_negative_carry_forward_and_net_negative_gives_no_bill(
    digit: Digit,
) -> None:
    bill = digit.bill()
    response = digit.pay([(bill, 1000)])
    lines = [
        a
        for d in body_of(response)["Payments"][0]["paymentDetails"][0]["bill"]["billDetails"]
        for a in d["billAccountDetails"]
    ]
    [advance] = [a for a in lines if a["taxHeadCode"] == "WS_ADVANCE_CARRYFORWARD"]
    assert advance["amount"] == -185 and advance["purpose"] == "ADVANCE"
    digit.admin("clock", {"advance_seconds": 1.5})
    assert body_of(digit.fetch())["Bill"] == []
    digit.admin("new-demand", {"tenantId": AMRITSAR, "consumerCode": WS_RAMESH, "units": 37})
    next_bill = digit.bill()
    heads = {
        a["taxHeadCode"]: a["amount"]
        for d in next_bill["billDetails"]
        for a in d["billAccountDetails"]
    }
    assert heads["WS_ADVANCE_CARRYFORWARD"] == -185
    assert next_bill["totalAmount"] == 186 - 185


def test_one_payment_for_several_bills_gives_one_receipt_per_bill(digit: Digit) -> None:
    ws = digit.bill()
    sw = digit.bill("SW/107/2019-20/000011", "SW")
    response = digit.pay([(ws, 815), (sw, 315)])
    [payment] = body_of(response)["Payments"]
    receipts = {d["receiptNumber"] for d in payment["paymentDetails"]}
    assert len(receipts) == 2
    assert payment["totalDue"] == 815 + 315


def test_payment_search_by_module_and_employee_needs_module(digit: Digit) -> None:
    bill = digit.bill()
    paid = body_of(digit.pay([(bill, 815)]))["Payments"][0]
    found = body_of(
        digit.post(
            "/collection-services/payments/WS/_search", tenantId=AMRITSAR, billIds=bill["id"]
        )
    )["Payments"]
    assert [p["id"] for p in found] == [paid["id"]]
    by_receipt = body_of(
        digit.post(
            "/collection-services/payments/WS/_search",
            tenantId=AMRITSAR,
            receiptNumbers=paid["paymentDetails"][0]["receiptNumber"],
        )
    )["Payments"]
    assert len(by_receipt) == 1
    assert (
        body_of(
            digit.post(
                "/collection-services/payments/SW/_search", tenantId=AMRITSAR, billIds=bill["id"]
            )
        )["Payments"]
        == []
    )
    assert codes(digit.post("/collection-services/payments/_search", tenantId=AMRITSAR)) == [
        "EGCL_URI_EXCEPTION"
    ]


def test_counter_payment_makes_our_create_bill_already_paid(digit: Digit) -> None:
    bill = digit.bill()
    digit.admin(
        "counter-payment",
        {"tenantId": AMRITSAR, "businessService": "WS", "consumerCode": WS_RAMESH},
    )
    assert codes(digit.pay([(bill, 815)])) == ["BILL_ALREADY_PAID"]
    [theirs] = body_of(
        digit.post(
            "/collection-services/payments/WS/_search", tenantId=AMRITSAR, billIds=bill["id"]
        )
    )["Payments"]
    assert theirs["additionalDetails"] == {"source": "sandbox-counter"}
