"""What a payment's receipt says and who may see it, with fakes for the ledger, Redis and DIGIT
(the same rules run end to end in tests/e2e/test_receipts.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrator import jsonutil
from integrator.digit import parse
from integrator.digit.errors import DigitUnavailable
from integrator.digit.models import (
    Bill,
    BillAccountDetail,
    BillDetail,
    DigitPayment,
    DigitPaymentDetail,
    Tenant,
)
from integrator.payments.devices import Device
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.receipt_service import (
    ReceiptFacts,
    ReceiptService,
    ReceiptSettings,
    printable,
    receipt_status,
    tax_lines,
)
from integrator.payments.use_cases import (
    ConsumerCodeRequired,
    DigitUnreachable,
    PaymentNotFound,
    ReceiptLookupLimited,
    ReceiptNotFound,
    ReceiptNotReady,
)
from integrator.receipts import ReceiptStatus, render_text
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

IST = ZoneInfo("Asia/Kolkata")
D = Decimal
RECEIPT = "11/2026-27/000123"
CONSUMER = "WS/107/2019-20/000022"


def at(day: int, month: int = 4) -> datetime:
    return datetime(2026, month, day, tzinfo=IST)


def make_digit_bill(**overrides: Any) -> Bill:
    april = BillDetail(
        id="d-apr",
        demand_id="dem-1",
        from_period=at(1, 4),
        to_period=at(30, 4),
        expiry_date=None,
        amount=D(600),
        account_details=(
            BillAccountDetail(tax_head_code="WS_TIME_PENALTY", amount=D(50), order=2),
            BillAccountDetail(tax_head_code="WS_CHARGE", amount=D(550), order=1),
            BillAccountDetail(tax_head_code="WS_TIME_INTEREST", amount=D(0), order=3),
        ),
    )
    march = replace(
        april,
        id="d-mar",
        from_period=at(1, 3),
        to_period=at(31, 3),
        amount=D(600),
        account_details=(BillAccountDetail(tax_head_code="WS_CHARGE", amount=D(600), order=1),),
    )
    fields: dict[str, Any] = dict(
        id="bill-1",
        bill_number="BILLNO-WS-000101",
        tenant_id="pb.amritsar",
        business_service="WS",
        consumer_code=CONSUMER,
        status="PAID",
        total_amount=D(1200),
        bill_date=at(2, 4),
        payer_name="Ramesh Kumar Sharma",
        details=(april, march),  # DIGIT does not promise an order
    )
    return Bill(**(fields | overrides))


def registered(**overrides: Any) -> Payment:
    line = make_line(receipt_number=RECEIPT, receipt_date=NOW, bill_number="BILLNO-WS-000101")
    fields: dict[str, Any] = dict(
        id="pay-1", status=PaymentStatus.REGISTERED, bills=(line,), registered_at=NOW
    )
    return make_payment(**(fields | overrides))


def digit_payment(**overrides: Any) -> DigitPayment:
    fields: dict[str, Any] = dict(
        id="dp-1",
        tenant_id="pb.amritsar",
        payment_mode="CASH",
        payment_status="NEW",
        instrument_status="APPROVED",
        total_amount_paid=D(1200),
        transaction_number="TXN-1",
        transaction_date=NOW,
        paid_by="Ramesh Kumar",
        payer_name="Ramesh Kumar",
        mobile_number="9876543210",
        additional_details={},
        details=(
            DigitPaymentDetail(
                id="pd-1",
                bill_id="bill-1",
                business_service="WS",
                receipt_number=RECEIPT,
                receipt_date=NOW,
                total_due=D(1200),
                amount_paid=D(1200),
                consumer_code=CONSUMER,
                bill_number="BILLNO-WS-000101",
                bill=make_digit_bill(),
            ),
        ),
    )
    return DigitPayment(**(fields | overrides))


@dataclass
class Fakes:
    payments: dict[str, Payment] = field(default_factory=dict)
    digit_payments: list[DigitPayment] = field(default_factory=list)
    digit_down: bool = False
    digit_calls: int = 0
    cache: dict[tuple[str, str, str], ReceiptFacts] = field(default_factory=dict)
    snapshots: dict[str, Bill] = field(default_factory=dict)
    printed: list[tuple[str, str]] = field(default_factory=list)
    lookups: int = 0
    limit_wait: int = 0

    # ledger
    def get(self, payment_id: str) -> Payment | None:
        return self.payments.get(payment_id)

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]:
        return [self.payments[i] for i in payment_ids if i in self.payments]

    def ids_for_receipt(self, receipt_number: str) -> list[str]:
        return [p.id for p in self.payments.values() if receipt_number in p.receipt_numbers]

    def count_print(self, payment_id: str, *, device_id: str, rendering: str, at: datetime) -> int:
        self.printed.append((payment_id, rendering))
        return sum(1 for p, _ in self.printed if p == payment_id)

    # DIGIT
    def search_payments(
        self, *, tenant_id: str, module: str, receipt_numbers: Sequence[str] = ()
    ) -> list[DigitPayment]:
        self.digit_calls += 1
        if self.digit_down:
            raise DigitUnavailable("down")
        return [
            p
            for p in self.digit_payments
            if any(d.receipt_number in receipt_numbers for d in p.details)
        ]

    def tenants(self) -> list[Tenant]:
        return [Tenant(code="pb.amritsar", name="Amritsar", city_name="Amritsar")]


class Cache:
    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    def get(self, tenant_id: str, module: str, receipt_number: str) -> ReceiptFacts | None:
        return self.fakes.cache.get((tenant_id, module, receipt_number))

    def put(self, tenant_id: str, module: str, facts: ReceiptFacts, *, ttl_seconds: int) -> None:
        self.fakes.cache[(tenant_id, module, facts.receipt_number)] = facts


class Limiter:
    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    def allow(self, device_id: str, limit_per_minute: int, now: datetime) -> int:
        self.fakes.lookups += 1
        return self.fakes.limit_wait


class Snapshots:
    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    def get(self, bill_id: str, *, max_age: timedelta, now: datetime) -> Bill | None:
        return self.fakes.snapshots.get(bill_id)


DEVICE = Device(id="dev-1", name="counter-7", tenants=("pb",), key_hash="h", created_at=NOW)
OTHER = Device(id="dev-2", name="counter-8", tenants=("pb",), key_hash="h2", created_at=NOW)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes(payments={"pay-1": registered()}, digit_payments=[digit_payment()])


@pytest.fixture
def service(fakes: Fakes) -> ReceiptService:
    return ReceiptService(
        settings=ReceiptSettings(
            cache_seconds=600,
            lookups_per_minute=20,
            snapshot_max_age_seconds=86400,
            timezone=IST,
            collectable_services=("WS", "SW", "PT", "TL"),
        ),
        payments=fakes,
        prints=fakes,
        facts_cache=Cache(fakes),
        limiter=Limiter(fakes),
        snapshots=Snapshots(fakes),
        digit=fakes,
        clock=lambda: NOW,
    )


# --- building the document ---


def test_the_receipt_joins_the_ledgers_payment_and_digits_bill(service: ReceiptService) -> None:
    printed = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="json")

    doc = printed.document
    [bill] = doc.bills
    assert (doc.city_name, doc.collector, doc.transaction_number) == (
        "Amritsar",
        "counter-7",
        "TXN-1",
    )
    assert (bill.receipt_number, bill.consumer_name, bill.service_name) == (
        RECEIPT,
        "Ramesh Kumar Sharma",
        "Water Charges",
    )
    assert (bill.period_from, bill.period_to) == (date(2026, 3, 1), date(2026, 4, 30))
    assert (printed.print_number, doc.duplicate, doc.status) == (1, False, ReceiptStatus.REGISTERED)


def test_tax_heads_come_in_digits_order_without_zeros() -> None:
    lines = tax_lines(make_digit_bill(), IST, fallback=date(2026, 4, 2))

    assert [(t.period_from.month, t.tax_head_code, t.amount) for t in lines] == [
        (3, "WS_CHARGE", D(600)),
        (4, "WS_CHARGE", D(550)),
        (4, "WS_TIME_PENALTY", D(50)),
    ]


def test_every_print_after_the_first_is_a_duplicate(service: ReceiptService) -> None:
    first = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")
    second = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="pdf")

    assert (first.print_number, first.document.duplicate) == (1, False)
    assert (second.print_number, second.document.duplicate) == (2, True)


def test_a_reprint_soon_after_costs_no_digit_call(service: ReceiptService, fakes: Fakes) -> None:
    service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="json")
    service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")

    assert fakes.digit_calls == 1


@pytest.mark.parametrize(
    ("ledger", "payment_status", "instrument_status", "expected"),
    [
        ("REGISTERED", "NEW", "APPROVED", ReceiptStatus.REGISTERED),
        ("CANCELLED", "NEW", "APPROVED", ReceiptStatus.CANCELLED),
        ("DISHONOURED", "NEW", "APPROVED", ReceiptStatus.DISHONOURED),
        ("REGISTERED", "CANCELLED", "CANCELLED", ReceiptStatus.CANCELLED),
        ("REGISTERED", "DEPOSITED", "DISHONOURED", ReceiptStatus.DISHONOURED),
    ],
)
def test_a_void_receipt_says_so_whether_the_ledger_or_digit_knows(
    ledger: str, payment_status: str, instrument_status: str, expected: ReceiptStatus
) -> None:
    facts = ReceiptFacts(
        receipt_number=RECEIPT,
        payment_status=payment_status,
        instrument_status=instrument_status,
        transaction_number=None,
        payer_name=None,
        bill=None,
    )
    assert receipt_status(ledger, [facts]) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"status": PaymentStatus.PENDING}, False),
        ({"status": PaymentStatus.NEEDS_ATTENTION}, False),
        ({"status": PaymentStatus.RESOLVED, "resolution": "RECEIPTED_BY_HAND"}, True),
        ({"status": PaymentStatus.RESOLVED, "resolution": "REFUNDED"}, False),
        ({"bills": (make_line(),)}, False),  # no receipt number
    ],
)
def test_only_a_payment_digit_holds_receipts_for_is_printable(
    overrides: dict[str, Any], expected: bool
) -> None:
    assert printable(registered(**overrides)) is expected


def test_a_payment_without_receipts_is_not_ready_and_not_counted(
    service: ReceiptService, fakes: Fakes
) -> None:
    fakes.payments["pay-1"] = registered(status=PaymentStatus.PENDING, bills=(make_line(),))

    with pytest.raises(ReceiptNotReady) as raised:
        service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")

    assert raised.value.status == "PENDING"
    assert fakes.printed == []


def test_another_devices_payment_is_not_found(service: ReceiptService) -> None:
    with pytest.raises(PaymentNotFound):
        service.print_receipt(device=OTHER, payment_id="pay-1", rendering="json")


def test_digit_down_without_a_snapshot_is_unreachable_and_not_counted(
    service: ReceiptService, fakes: Fakes
) -> None:
    fakes.digit_down = True

    with pytest.raises(DigitUnreachable):
        service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="pdf")
    assert fakes.printed == []


def test_digit_down_the_served_bill_stands_in(service: ReceiptService, fakes: Fakes) -> None:
    fakes.digit_down = True
    fakes.snapshots["bill-1"] = make_digit_bill(payer_name="From the snapshot")

    printed = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="json")

    [bill] = printed.document.bills
    assert bill.consumer_name == "From the snapshot" and len(bill.tax_lines) == 3
    assert printed.print_number == 1


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_receipt_digit_does_not_return_still_prints_from_the_ledger(
    service: ReceiptService, fakes: Fakes, snapshot: bool
) -> None:
    fakes.digit_payments = []
    if snapshot:
        fakes.snapshots["bill-1"] = make_digit_bill()

    printed = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")

    [bill] = printed.document.bills
    assert bill.receipt_number == RECEIPT and bill.amount_paid == D(1200)
    assert len(bill.tax_lines) == (3 if snapshot else 0)


# --- lookups by number ---


def lookup(service: ReceiptService, device: Device, consumer_code: str | None = None) -> Any:
    return service.lookup(
        device=device,
        tenant_id="pb.amritsar",
        business_service="WS",
        receipt_number=RECEIPT,
        consumer_code=consumer_code,
    )


def test_a_device_looks_up_its_own_receipt_freely_with_the_mobile(
    service: ReceiptService, fakes: Fakes
) -> None:
    receipt = lookup(service, DEVICE)

    assert receipt.mobile_number == "9876543210"
    assert fakes.lookups == 0  # not counted against the lookup limit


def test_the_same_number_in_another_city_is_not_this_devices_receipt(
    service: ReceiptService, fakes: Fakes
) -> None:
    fakes.payments["pay-1"] = registered(tenant_id="pb.jalandhar")

    with pytest.raises(ConsumerCodeRequired):
        lookup(service, DEVICE)
    receipt = lookup(service, DEVICE, CONSUMER)

    assert receipt.mobile_number is None
    assert fakes.lookups == 2


def test_another_devices_receipt_needs_its_consumer_code_and_has_no_mobile(
    service: ReceiptService, fakes: Fakes
) -> None:
    with pytest.raises(ConsumerCodeRequired):
        lookup(service, OTHER)
    with pytest.raises(ReceiptNotFound):
        lookup(service, OTHER, "WS/107/2019-20/000099")
    receipt = lookup(service, OTHER, CONSUMER)

    assert receipt.mobile_number is None
    assert fakes.lookups == 3


def test_over_the_limit_nothing_is_asked_of_digit(service: ReceiptService, fakes: Fakes) -> None:
    fakes.limit_wait = 17

    with pytest.raises(ReceiptLookupLimited) as raised:
        lookup(service, OTHER, CONSUMER)

    assert raised.value.retry_after == 17
    assert fakes.digit_calls == 0


# --- DIGIT's answer ---


def test_the_bill_in_a_payment_search_answer_is_kept_and_a_malformed_one_is_dropped() -> None:
    detail = {
        "id": "pd-1",
        "billId": "bill-1",
        "businessService": "WS",
        "receiptNumber": RECEIPT,
        "totalDue": 1200,
        "totalAmountPaid": 1200,
        "bill": {
            "id": "bill-1",
            "tenantId": "pb.amritsar",
            "businessService": "WS",
            "consumerCode": CONSUMER,
            "totalAmount": 1200,
            "billDetails": [
                {
                    "id": "d-1",
                    "fromPeriod": 1775001600000,
                    "toPeriod": 1777507200000,
                    "amount": 1200,
                    "billAccountDetails": [
                        {"taxHeadCode": "WS_CHARGE", "amount": 1200, "order": 1}
                    ],
                }
            ],
        },
    }
    body = {"Payments": [{"id": "dp-1", "totalAmountPaid": 1200, "paymentDetails": [detail]}]}
    broken = {**detail, "bill": {**detail["bill"], "totalAmount": "lots"}}
    body_broken = {"Payments": [{**body["Payments"][0], "paymentDetails": [broken]}]}

    [kept] = parse.payments(jsonify(body), IST)
    [dropped] = parse.payments(jsonify(body_broken), IST)

    assert kept.details[0].bill is not None
    assert kept.details[0].bill.details[0].account_details[0].amount == D(1200)
    assert dropped.details[0].bill is None
    assert dropped.details[0].receipt_number == RECEIPT


def jsonify(value: Any) -> Any:
    return jsonutil.loads(jsonutil.dumps(value))


# --- the slip the service's document prints ---

GOLDEN = Path(__file__).parents[1] / "receipts" / "golden"


@pytest.mark.parametrize("width", [32, 48])
def test_the_slip_of_a_ledger_payment_matches_its_golden_file(
    service: ReceiptService, fakes: Fakes, width: int
) -> None:
    """Regenerate with REGENERATE_RECEIPT_GOLDEN=1 (as tests/unit/receipts), then review."""
    fakes.payments["pay-1"] = registered(
        payment_mode="CHEQUE", instrument_number="004512", instrument_date=date(2026, 3, 30)
    )
    service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")
    printed = service.print_receipt(device=DEVICE, payment_id="pay-1", rendering="text")

    rendered = render_text(printed.document, width=width)
    path = GOLDEN / f"ledger_cheque_duplicate_{width}.txt"
    if os.environ.get("REGENERATE_RECEIPT_GOLDEN") == "1":
        path.write_text(rendered, encoding="ascii")
    assert rendered == path.read_text(encoding="ascii")
