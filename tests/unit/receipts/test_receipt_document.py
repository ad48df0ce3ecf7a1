"""What a ReceiptDocument accepts, refuses and derives (balances, the QR payload)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.receipts.receipt_factories import make_bill, make_document, make_tax_line

D = Decimal


@pytest.mark.parametrize(
    ("factory", "overrides", "message"),
    [
        (make_bill, {"amount_paid": D("815.50")}, "amount_paid must be whole rupees"),
        (make_bill, {"total_due": D("815.5")}, "total_due must be whole rupees"),
        (make_bill, {"amount_paid": D(0)}, "amount_paid must be positive"),
        (make_bill, {"total_due": D(-1)}, "total_due must not be negative"),
        (make_bill, {"amount_paid": 815.0}, "must be a Decimal"),
        (make_bill, {"receipt_number": " "}, "receipt_number must not be blank"),
        (make_bill, {"period_from": date(2026, 11, 1)}, "starts after it ends"),
        (make_tax_line, {"amount": D("0.125")}, "at most two decimals"),
        (make_tax_line, {"tax_head_code": ""}, "tax_head_code must not be blank"),
        (make_document, {"bills": ()}, "at least one bill"),
        (make_document, {"receipt_date": datetime(2026, 11, 30, 14, 5)}, "timezone-aware"),
        (make_document, {"payment_mode": "CHEQUE"}, "CHEQUE payment needs its number and date"),
        (
            make_document,
            {"payment_mode": "DD", "instrument_number": "77", "instrument_date": None},
            "DD payment needs its number and date",
        ),
        (make_document, {"bills": (make_bill(), make_bill())}, "receipt numbers repeat"),
        (
            make_document,
            {"bills": (make_bill(receipt_number="1,2"),)},
            "contains ','",
        ),
        (make_document, {"city_name": ""}, "city_name must not be blank"),
    ],
)
def test_invalid_receipt_data_is_refused_when_built(
    factory: Any, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        factory(**overrides)


@pytest.mark.parametrize(
    ("due", "paid", "balance", "advance"),
    [("815", "815", "0", "0"), ("2405", "2000", "405", "0"), ("113579", "120000", "0", "6421")],
)
def test_a_bill_shows_what_is_left_or_carried_forward(
    due: str, paid: str, balance: str, advance: str
) -> None:
    bill = make_bill(total_due=D(due), amount_paid=D(paid))
    assert (bill.balance, bill.advance) == (D(balance), D(advance))


def test_totals_and_qr_payload_cover_every_bill_of_the_payment() -> None:
    doc = make_document(
        bills=(
            make_bill(receipt_number="R-1", total_due=D(500), amount_paid=D(300)),
            make_bill(receipt_number="R-2", total_due=D(100), amount_paid=D(100)),
        )
    )
    assert doc.receipt_numbers == ("R-1", "R-2")
    assert doc.total_paid == D(400)
    assert doc.total_balance == D(200)
    assert doc.qr_payload == "R-1,R-2"


def test_a_document_cannot_be_changed_after_it_is_built() -> None:
    doc = make_document()
    with pytest.raises(FrozenInstanceError):
        doc.duplicate = True  # type: ignore[misc]


def test_tax_heads_may_carry_paise_and_be_negative_as_digit_demands_do() -> None:
    line = make_tax_line(tax_head_code="WS_Round_Off", name="", amount=D("-0.16"))
    assert line.label == "WS_Round_Off"
    assert line.has_paise
