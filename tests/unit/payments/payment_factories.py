"""Keyword-default factories for the payment domain's tests (unit and store integration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from integrator.digit.models import Bill, BillAccountDetail, BillDetail, PaymentRule
from integrator.payments.models import Payment, PaymentBill, PaymentStatus

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

# MDMS BillingService.BusinessService flags (digest 8, mdms-pb-BillingService/BusinessService.json)
WS = PaymentRule(
    business_service="WS",
    part_payment_allowed=True,
    advance_allowed=True,
    min_amount_payable=Decimal(100),
    modes_not_allowed=frozenset({"DD"}),
)
SW = PaymentRule(
    business_service="SW",
    part_payment_allowed=True,
    advance_allowed=True,
    min_amount_payable=Decimal(100),
    modes_not_allowed=frozenset({"DD", "OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"}),
)
PT = PaymentRule(
    business_service="PT",
    part_payment_allowed=True,
    advance_allowed=False,
    min_amount_payable=Decimal(100),
    modes_not_allowed=frozenset({"DD", "OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"}),
)
TL = PaymentRule(
    business_service="TL",
    part_payment_allowed=False,
    advance_allowed=False,
    min_amount_payable=None,
    modes_not_allowed=frozenset({"DD", "OFFLINE_NEFT", "OFFLINE_RTGS", "POSTAL_ORDER"}),
)
# WaterCharges in the same master: advance only
WC = PaymentRule(
    business_service="WC",
    part_payment_allowed=False,
    advance_allowed=True,
    min_amount_payable=None,
    modes_not_allowed=frozenset({"DD"}),
)
RULES = {"WS": WS, "SW": SW, "PT": PT, "TL": TL, "WC": WC}


def make_bill(
    *,
    total: Decimal | int | str = 1200,
    business_service: str = "WS",
    status: str = "ACTIVE",
    expires_at: datetime | None = NOW + timedelta(days=3),
    **overrides: Any,
) -> Bill:
    amount = Decimal(total)
    values: dict[str, Any] = {
        "id": f"bill-{uuid.uuid4().hex[:8]}",
        "bill_number": "BILLNO-WS-000123",
        "tenant_id": "pb.amritsar",
        "business_service": business_service,
        "consumer_code": "WS/107/2019-20/000022",
        "status": status,
        "total_amount": amount,
        "bill_date": NOW - timedelta(days=1),
        "payer_name": "Ramesh Kumar",
        "mobile_number": "9876543210",
        "details": (
            BillDetail(
                id="bd-1",
                demand_id="dm-1",
                from_period=datetime(2026, 1, 1, tzinfo=UTC),
                to_period=datetime(2026, 3, 31, 18, 29, 59, 999000, tzinfo=UTC),
                expiry_date=expires_at,
                amount=amount,
                account_details=(
                    BillAccountDetail(
                        tax_head_code="WS_CHARGE", amount=amount - Decimal("0.40"), order=0
                    ),
                    BillAccountDetail(
                        tax_head_code="WS_Round_Off", amount=Decimal("0.40"), order=4
                    ),
                ),
            ),
        ),
    }
    values.update(overrides)
    return Bill(**values)


DEFAULT_CONSUMER = "WS/107/2019-20/000022"


def make_line(
    *,
    bill_id: str | None = None,
    consumer_code: str = DEFAULT_CONSUMER,
    business_service: str = "WS",
    amount: Decimal | int | str = 1200,
    total_due: Decimal | int | str = 1200,
    **overrides: Any,
) -> PaymentBill:
    # one bill per consumer unless told otherwise: the ledger holds a bill in one live payment
    if bill_id is None:
        bill_id = "bill-1" if consumer_code == DEFAULT_CONSUMER else f"bill-{consumer_code}"
    return PaymentBill(
        bill_id=bill_id,
        bill_number=overrides.pop("bill_number", f"BILLNO-{bill_id}"),
        consumer_code=consumer_code,
        business_service=business_service,
        amount=Decimal(amount),
        total_due=Decimal(total_due),
        **overrides,
    )


def make_payment(
    *,
    id: str | None = None,
    device_id: str = "dev-1",
    idempotency_key: str | None = None,
    fingerprint: str = "fp-1",
    bills: tuple[PaymentBill, ...] | None = None,
    created_at: datetime = NOW,
    status: PaymentStatus = PaymentStatus.PENDING,
    **overrides: Any,
) -> Payment:
    return Payment(
        id=id or f"pay-{uuid.uuid4().hex[:12]}",
        device_id=device_id,
        idempotency_key=idempotency_key or f"key-{uuid.uuid4().hex[:8]}",
        fingerprint=fingerprint,
        status=status,
        tenant_id=overrides.pop("tenant_id", "pb.amritsar"),
        payment_mode=overrides.pop("payment_mode", "CASH"),
        paid_by=overrides.pop("paid_by", "Ramesh Kumar"),
        payer_name=overrides.pop("payer_name", "Ramesh Kumar"),
        mobile_number=overrides.pop("mobile_number", "9876543210"),
        instrument_number=overrides.pop("instrument_number", None),
        instrument_date=overrides.pop("instrument_date", None),
        transaction_number=overrides.pop("transaction_number", None),
        collected_at=overrides.pop("collected_at", created_at),
        bills=bills if bills is not None else (make_line(),),
        created_at=created_at,
        **overrides,
    )
