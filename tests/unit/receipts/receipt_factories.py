"""Keyword-default factories for receipts, and the documents the golden files are made from."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from integrator.receipts import ReceiptBill, ReceiptDocument, ReceiptStatus, TaxLine

D = Decimal
IST = ZoneInfo("Asia/Kolkata")
RECEIPT_DATE = datetime(2026, 11, 30, 14, 5, tzinfo=IST)


def make_tax_line(**overrides: Any) -> TaxLine:
    fields: dict[str, Any] = {
        "tax_head_code": "WS_CHARGE",
        "name": "Water charge",
        "period_from": date(2026, 10, 1),
        "period_to": date(2026, 10, 31),
        "amount": D(815),
    }
    return TaxLine(**(fields | overrides))


def make_bill(**overrides: Any) -> ReceiptBill:
    fields: dict[str, Any] = {
        "receipt_number": "11/2026-27/000123",
        "business_service": "WS",
        "service_name": "Water Charges",
        "consumer_code": "WS/107/2019-20/000022",
        "consumer_name": "Ramesh Kumar",
        "bill_number": "WSB-AMR-2026-000451",
        "period_from": date(2026, 10, 1),
        "period_to": date(2026, 10, 31),
        "total_due": D(815),
        "amount_paid": D(815),
        "tax_lines": (make_tax_line(),),
    }
    return ReceiptBill(**(fields | overrides))


def make_document(**overrides: Any) -> ReceiptDocument:
    fields: dict[str, Any] = {
        "tenant_id": "pb.amritsar",
        "city_name": "Amritsar",
        "bills": (make_bill(),),
        "receipt_date": RECEIPT_DATE,
        "payment_mode": "CASH",
        "transaction_number": "amritsar2101641377",
        "collector": "counter-7",
    }
    return ReceiptDocument(**(fields | overrides))


def _water_month(month: int, charge: str, cess: str, round_off: str) -> tuple[TaxLine, ...]:
    start, end = date(2026, month, 1), date(2026, month, calendar.monthrange(2026, month)[1])
    return (
        make_tax_line(period_from=start, period_to=end, amount=D(charge)),
        make_tax_line(
            tax_head_code="WS_WATER_CESS",
            name="Water cess",
            period_from=start,
            period_to=end,
            amount=D(cess),
        ),
        make_tax_line(
            tax_head_code="WS_Round_Off",
            name="Round off",
            period_from=start,
            period_to=end,
            amount=D(round_off),
        ),
    )


THREE_BILLS = make_document(
    city_name="Sahibzada Ajit Singh Nagar (Mohali)",
    tenant_id="pb.mohali",
    bills=(
        make_bill(
            receipt_number="11/2026-27/000124",
            consumer_name="Gurpreet Singh Sandhu Kaur Dhillon",
            period_from=date(2026, 8, 1),
            period_to=date(2026, 9, 30),
            tax_lines=(
                *_water_month(8, "1200.00", "30.00", "0.00"),
                *_water_month(9, "1146.50", "28.66", "-0.16"),
            ),
            total_due=D(2405),
            amount_paid=D(2000),
        ),
        make_bill(
            receipt_number="11/2026-27/000125",
            business_service="SW",
            service_name="Sewerage Charges",
            consumer_code="SW/107/2019-20/000031",
            consumer_name="Gurpreet Singh",
            bill_number="SWB-MOH-2026-000077",
            tax_lines=(
                make_tax_line(tax_head_code="SW_CHARGE", name="Sewerage charge", amount=D(400)),
                make_tax_line(tax_head_code="SW_TIME_PENALTY", name="Penalty", amount=D(40)),
            ),
            total_due=D(440),
            amount_paid=D(440),
        ),
        make_bill(
            receipt_number="PT/11/2026-27/000126",
            business_service="PT",
            service_name="Property Tax",
            consumer_code="PT-107-1234567",
            consumer_name="Gurpreet Singh",
            bill_number="PTB-MOH-2026-012345",
            period_from=date(2026, 4, 1),
            period_to=date(2027, 3, 31),
            tax_lines=(
                make_tax_line(
                    tax_head_code="PT_TAX",
                    name="Property tax",
                    period_from=date(2026, 4, 1),
                    period_to=date(2027, 3, 31),
                    amount=D(123456),
                ),
                make_tax_line(
                    tax_head_code="PT_TIME_REBATE",
                    name="Rebate for early payment",
                    period_from=date(2026, 4, 1),
                    period_to=date(2027, 3, 31),
                    amount=D(-12346),
                ),
                make_tax_line(
                    tax_head_code="PT_ADHOC_PENALTY",
                    name="",
                    period_from=date(2026, 4, 1),
                    period_to=date(2027, 3, 31),
                    amount=D(2469),
                ),
            ),
            total_due=D(113579),
            amount_paid=D(120000),
        ),
    ),
    payment_mode="CARD",
    transaction_number="TXN-HDFC-99887766554433",
    instrument_number=None,
    collector="Mohali counter 3 (ground floor, near the main entrance)",
)

CHEQUE = make_document(
    payment_mode="CHEQUE",
    instrument_number="004512",
    instrument_date=date(2026, 11, 28),
    transaction_number="amritsar2101641399",
    bills=(make_bill(total_due=D(12345678), amount_paid=D(12345678), tax_lines=()),),
)

# name -> the document each golden file shows
GOLDEN_DOCUMENTS: dict[str, ReceiptDocument] = {
    "one_bill": make_document(),
    "three_bills": THREE_BILLS,
    "cheque": CHEQUE,
    "duplicate": make_document(duplicate=True),
    "cancelled": replace(CHEQUE, status=ReceiptStatus.CANCELLED),
}
