"""A Flask app with only the HTTP edge: fake use cases, fake device keys, a fake rate limiter."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integrator.api import ApiDependencies, init_api
from integrator.api.context import CashGuard, NoCashCap
from integrator.api.wire import DEFAULT_TIMEZONE
from integrator.digit.models import Bill, BillAccountDetail, BillDetail
from integrator.payments.cash import DeviceLimits, Holding
from integrator.payments.devices import Device
from integrator.payments.models import (
    AmountExactness,
    Payability,
    Payment,
    PaymentBill,
    PaymentStatus,
)
from integrator.payments.offline import ItemResult, OfflineItem, Outcome
from integrator.payments.use_cases import (
    AcceptOutcome,
    BillOffer,
    MobileBills,
    PaymentNotFound,
    PaymentRequest,
    Receipt,
    ReceiptLine,
    ReceiptNotFound,
)
from integrator.services import EXTENSION_KEY, Services

IST = timezone(timedelta(hours=5, minutes=30))
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
KEY = "device-key-secret-0001"
REVOKED_KEY = "device-key-revoked-0002"


def make_device(
    *, id: str = "dev-1", tenants: tuple[str, ...] = ("pb",), **overrides: Any
) -> Device:
    fields: dict[str, Any] = dict(
        id=id, name="Counter 1", tenants=tenants, key_hash="h", created_at=NOW
    )
    fields.update(overrides)
    return Device(**fields)


def make_bill(*, id: str = "bill-1", total: int | str = 1200, **overrides: Any) -> Bill:
    detail = BillDetail(
        id=f"{id}-d1",
        demand_id="dem-1",
        from_period=datetime(2024, 4, 1, tzinfo=IST),
        to_period=datetime(2024, 6, 30, 23, 59, 59, tzinfo=IST),
        expiry_date=datetime(2024, 5, 31, 23, 59, 59, tzinfo=IST),
        amount=Decimal(total),
        account_details=(
            BillAccountDetail(tax_head_code="WS_CHARGE", amount=Decimal(total) - 200, order=1),
            BillAccountDetail(tax_head_code="WS_TIME_PENALTY", amount=Decimal(200), order=2),
        ),
    )
    fields: dict[str, Any] = dict(
        id=id,
        bill_number=f"BILL/{id}",
        tenant_id="pb.amritsar",
        business_service="WS",
        consumer_code="WS/107/2024-25/000123",
        status="ACTIVE",
        total_amount=Decimal(total),
        bill_date=datetime(2024, 4, 2, 9, 30, tzinfo=IST),
        payer_name="Ramesh Kumar",
        mobile_number="9876543210",
        details=(detail,),
    )
    fields.update(overrides)
    return Bill(**fields)


def make_offer(bill: Bill | None = None, **overrides: Any) -> BillOffer:
    bill = bill or make_bill()
    payability = Payability(
        bill_id=bill.id,
        business_service=bill.business_service,
        total=bill.total_amount,
        part_payment_allowed=True,
        advance_allowed=False,
        minimum_payable=Decimal(100),
        maximum_payable=bill.total_amount,
        exactness=AmountExactness.EXACT_AND_BELOW,
        payment_modes_not_allowed=frozenset({"DD"}),
    )
    return BillOffer(bill=bill, payability=payability, **overrides)


def make_payment(
    *,
    status: PaymentStatus = PaymentStatus.PENDING,
    request: PaymentRequest | None = None,
    key: str = "key-1",
    **overrides: Any,
) -> Payment:
    registered = status == PaymentStatus.REGISTERED
    lines = request.bills if request else ()
    bills = tuple(
        PaymentBill(
            bill_id=line.bill_id,
            bill_number=f"BILL/{line.bill_id}",
            consumer_code="WS/107/2024-25/000123",
            business_service="WS",
            amount=line.amount,
            total_due=Decimal(1200),
            receipt_number=f"05/2024-25/{i:06d}" if registered else None,
            receipt_date=NOW if registered else None,
        )
        for i, line in enumerate(lines, start=1)
    ) or (
        PaymentBill(
            bill_id="bill-1",
            bill_number="BILL/bill-1",
            consumer_code="WS/107/2024-25/000123",
            business_service="WS",
            amount=Decimal(1500),
            total_due=Decimal(1500),
            receipt_number="05/2024-25/000001" if registered else None,
            receipt_date=NOW if registered else None,
        ),
    )
    fields: dict[str, Any] = dict(
        id="pay-1",
        device_id="dev-1",
        idempotency_key=key,
        fingerprint="fp",
        status=status,
        tenant_id=request.tenant_id if request else "pb.amritsar",
        payment_mode=request.payment_mode if request else "CASH",
        paid_by="Ramesh Kumar",
        payer_name=None,
        mobile_number="9876543210",
        instrument_number=None,
        instrument_date=None,
        transaction_number=None,
        collected_at=None,
        bills=bills,
        created_at=NOW,
        registered_at=NOW if registered else None,
    )
    fields.update(overrides)
    return Payment(**fields)


@dataclass
class FakePayments:
    """In-memory use cases: canned answers, and a record of what the edge asked."""

    offers: list[BillOffer] = field(default_factory=lambda: [make_offer()])
    unsearched_tenants: tuple[str, ...] = ()
    accept_status: PaymentStatus = PaymentStatus.REGISTERED
    raise_error: Exception | None = None
    payments: dict[tuple[str, str], Payment] = field(default_factory=dict)  # (device, key)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _call(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if self.raise_error is not None:
            raise self.raise_error

    def bills_for_consumer(self, **kwargs: Any) -> list[BillOffer]:
        self._call("bills_for_consumer", **kwargs)
        return self.offers

    def bills_for_mobile(self, **kwargs: Any) -> MobileBills:
        self._call("bills_for_mobile", **kwargs)
        return MobileBills(offers=self.offers, unsearched_tenants=self.unsearched_tenants)

    def validate_payment(self, *, device: Device, request: PaymentRequest) -> list[BillOffer]:
        self._call("validate_payment", device=device, request=request)
        return [make_offer(make_bill(id=line.bill_id)) for line in request.bills]

    def accept_payment(
        self, *, device: Device, idempotency_key: str, request: PaymentRequest
    ) -> AcceptOutcome:
        self._call(
            "accept_payment", device=device, idempotency_key=idempotency_key, request=request
        )
        known = self.payments.get((device.id, idempotency_key))
        if known is not None:
            return AcceptOutcome(payment=known, replayed=True)
        payment = make_payment(status=self.accept_status, request=request, key=idempotency_key)
        self.payments[(device.id, idempotency_key)] = payment
        return AcceptOutcome(payment=payment)

    def get_payment(self, *, device: Device, payment_id: str) -> Payment:
        self._call("get_payment", device=device, payment_id=payment_id)
        for (owner, _key), payment in self.payments.items():
            if owner == device.id and payment.id == payment_id:
                return payment
        raise PaymentNotFound(payment_id)

    def find_payment(self, *, device: Device, idempotency_key: str) -> Payment:
        self._call("find_payment", device=device, idempotency_key=idempotency_key)
        payment = self.payments.get((device.id, idempotency_key))
        if payment is None:
            raise PaymentNotFound(idempotency_key)
        return payment

    def receipt(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        receipt_number: str,
        consumer_code: str | None = None,
    ) -> Receipt:
        self._call(
            "receipt",
            tenant_id=tenant_id,
            business_service=business_service,
            receipt_number=receipt_number,
            consumer_code=consumer_code,
        )
        if receipt_number != "05/2024-25/000001":
            raise ReceiptNotFound(receipt_number)
        return Receipt(
            receipt_number=receipt_number,
            receipt_date=NOW,
            tenant_id=tenant_id,
            business_service=business_service,
            consumer_code="WS/107/2024-25/000123",
            bill_id="bill-1",
            bill_number="BILL/bill-1",
            payer_name="Ramesh Kumar",
            paid_by="Ramesh Kumar",
            payment_mode="CASH",
            amount_paid=Decimal(1200),
            total_due=Decimal(1200),
            lines=(
                ReceiptLine(tax_head_code="WS_CHARGE", amount=Decimal(1000)),
                ReceiptLine(tax_head_code="WS_TIME_PENALTY", amount=Decimal(200)),
            ),
        )


@dataclass
class FakeDevices:
    devices: dict[str, Device] = field(
        default_factory=lambda: {
            KEY: make_device(),
            REVOKED_KEY: make_device(id="dev-revoked", revoked=True),
        }
    )
    seen_keys: list[str] = field(default_factory=list)

    def authenticate(self, key: str) -> Device | None:
        self.seen_keys.append(key)
        device = self.devices.get(key)
        return None if device is None or device.revoked else device


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float


@dataclass
class FakeRateLimiter:
    """Allows `limit` hits per device, then refuses with a retry of 12.5 s."""

    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, device_id: str, limit_per_minute: int, now: datetime) -> Decision:
        self.counts[device_id] = self.counts.get(device_id, 0) + 1
        if self.counts[device_id] > limit_per_minute:
            return Decision(False, 12.5)
        return Decision(True, 0)


@dataclass
class Edge:
    app: Flask
    client: FlaskClient
    payments: FakePayments
    devices: FakeDevices
    limiter: FakeRateLimiter

    def headers(self, key: str = KEY, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", **extra}

    def post_payment(
        self,
        body: Any = None,
        *,
        key: str | None = "key-1",
        raw: str | None = None,
        path: str = "/v1/payments",
    ) -> Any:
        headers = self.headers()
        if key is not None:
            headers["Idempotency-Key"] = key
        if raw is None:
            from integrator import jsonutil

            raw = jsonutil.dumps(valid_body() if body is None else body)
            # an unpaired surrogate travels escaped, as a device's JSON encoder sends it
            raw = re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", raw)
        return self.client.post(path, data=raw, headers=headers, content_type="application/json")


def valid_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenantId": "pb.amritsar",
        "paymentMode": "CASH",
        "paidBy": "Ramesh Kumar",
        "bills": [{"billId": "bill-1", "amount": Decimal(1200)}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()


def build_edge(
    *,
    rate_limit: int = 1000,
    max_body_bytes: int = 64 * 1024,
    configure: Callable[[FakePayments], None] | None = None,
    payments: FakePayments | None = None,
    timezone: tzinfo = DEFAULT_TIMEZONE,
    cash_guard: CashGuard | None = None,
) -> Edge:
    payments = payments or FakePayments()
    if configure:
        configure(payments)
    devices = FakeDevices()
    limiter = FakeRateLimiter()
    app = Flask("integrator-api-test")
    app.config["TESTING"] = True
    init_api(
        app,
        dependencies=ApiDependencies(
            payments=lambda: payments,
            devices=devices,
            rate_limiter=limiter,
            rate_limit_per_minute=rate_limit,
            max_body_bytes=max_body_bytes,
            clock=lambda: NOW,
            timezone=timezone,
            cash_guard=cash_guard or NoCashCap(),
        ),
    )
    return Edge(
        app=app, client=app.test_client(), payments=payments, devices=devices, limiter=limiter
    )


@pytest.fixture
def edge() -> Edge:
    return build_edge()


# --- the offline and cash views (they read the app's Services) ---


@dataclass
class FakeCash:
    """The collector's cash book as GET /v1/devices/me/limits and /cash read it."""

    limits_of: DeviceLimits = field(
        default_factory=lambda: DeviceLimits(
            offline_max_age_seconds=72 * 3600,
            offline_cash_limit=Decimal(20000),
            cash_in_hand_cap=None,
        )
    )
    holdings: list[Holding] = field(default_factory=list)

    def limits(self, device: Device) -> DeviceLimits:
        return self.limits_of

    def in_hand(self, device_id: str) -> list[Holding]:
        return list(self.holdings)

    def in_hand_by_mode(self, device_id: str) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for h in self.holdings:
            totals[h.payment_mode] = totals.get(h.payment_mode, Decimal(0)) + h.amount
        return totals


def accept_every_item(item: OfflineItem) -> ItemResult:
    payment = make_payment(request=item.request, key=item.idempotency_key)
    return ItemResult(
        idempotency_key=item.idempotency_key, outcome=Outcome.ACCEPTED, payment=payment
    )


@dataclass
class FakeUploads:
    """OfflineUploads answering each item with `answer` (accepted by default); records them."""

    answer: Callable[[OfflineItem], ItemResult] = accept_every_item
    items: list[OfflineItem] = field(default_factory=list)

    def upload(self, device: Device, items: list[OfflineItem]) -> list[ItemResult]:
        self.items.extend(items)
        return [self.answer(item) for item in items]


def with_offline(
    edge: Edge, *, cash: FakeCash | None = None, uploads: FakeUploads | None = None
) -> Services:
    """Give the edge's app the Services the offline views read: real settings (OFFLINE_BATCH_MAX
    50), a fake cash book and fake uploads; nothing else is built (no ledger, no Redis)."""
    from tests.support.offline import offline_settings

    settings = offline_settings(
        "redis://127.0.0.1:9/0", password="unused", database_url="postgresql://127.0.0.1:9/none"
    )
    services = Services(
        settings=settings,
        db=cast(Any, None),
        redis=cast(Any, None),
        digit_factory=cast(Any, None),
    )
    services._built.update(cash=cash or FakeCash(), offline_uploads=uploads or FakeUploads())
    edge.app.extensions[EXTENSION_KEY] = services
    return services


__all__ = ["replace"]
