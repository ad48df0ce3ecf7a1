"""DIGIT JSON (already parsed with Decimal numbers) to typed models, and back for dates.

Amounts stay Decimal; epoch milliseconds become aware datetimes in the given zone. A value of the
wrong shape raises `MalformedAnswer` (the client maps it to the right DigitError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from integrator.digit.models import (
    Bill,
    BillAccountDetail,
    BillDetail,
    DigitPayment,
    DigitPaymentDetail,
    PaymentRule,
    ReceiptLine,
    Tenant,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MalformedAnswer(ValueError):
    """DIGIT's JSON does not have the shape the contract promises."""


def epoch_ms_to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    """DIGIT's epoch milliseconds (a JSON number, parsed as Decimal) as an aware datetime."""
    if value is None or value == "":
        return None
    try:
        ms = Decimal(str(value)) if not isinstance(value, Decimal) else value
        return (_EPOCH + timedelta(milliseconds=int(ms))).astimezone(tz)
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise MalformedAnswer(f"not an epoch-ms value: {value!r}") from exc


def datetime_to_epoch_ms(value: datetime) -> int:
    """An aware datetime as DIGIT's epoch milliseconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: DIGIT dates must be time-zone aware")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def money(value: Any, *, field: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if value is None:
        raise MalformedAnswer(f"{field} is missing")
    if isinstance(value, float):  # never produced by integrator.jsonutil.loads
        raise MalformedAnswer(f"{field} is a float")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedAnswer(f"{field} is not a number: {value!r}") from exc


def _opt_money(value: Any, *, field: str) -> Decimal | None:
    return None if value is None else money(value, field=field)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedAnswer(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedAnswer(f"{what} is not an array")
    return value


def bill(raw: Any, tz: tzinfo) -> Bill:
    b = _obj(raw, "Bill")
    details = []
    for rd in _list(b.get("billDetails"), "billDetails"):
        d = _obj(rd, "billDetail")
        lines = tuple(
            BillAccountDetail(
                tax_head_code=str(a.get("taxHeadCode") or ""),
                amount=money(a.get("amount"), field="billAccountDetail.amount"),
                adjusted_amount=money(
                    a.get("adjustedAmount") or Decimal(0), field="billAccountDetail.adjustedAmount"
                ),
                order=int(a.get("order") or 0),
            )
            for a in (
                _obj(x, "billAccountDetail")
                for x in _list(d.get("billAccountDetails"), "billAccountDetails")
            )
        )
        details.append(
            BillDetail(
                id=str(d.get("id") or ""),
                demand_id=_str(d.get("demandId")),
                from_period=epoch_ms_to_datetime(d.get("fromPeriod"), tz),
                to_period=epoch_ms_to_datetime(d.get("toPeriod"), tz),
                expiry_date=epoch_ms_to_datetime(d.get("expiryDate"), tz),
                amount=money(d.get("amount"), field="billDetail.amount"),
                account_details=lines,
            )
        )
    for required in ("id", "tenantId", "businessService", "consumerCode"):
        if not b.get(required):
            raise MalformedAnswer(f"Bill.{required} is missing")
    return Bill(
        id=str(b["id"]),
        bill_number=str(b.get("billNumber") or ""),
        tenant_id=str(b["tenantId"]),
        business_service=str(b["businessService"]),
        consumer_code=str(b["consumerCode"]),
        status=str(b.get("status") or ""),
        total_amount=money(b.get("totalAmount"), field="Bill.totalAmount"),
        bill_date=epoch_ms_to_datetime(b.get("billDate"), tz),
        payer_name=_str(b.get("payerName")),
        mobile_number=_str(b.get("mobileNumber")),
        details=tuple(details),
    )


def bills(body: Mapping[str, Any], tz: tzinfo) -> list[Bill]:
    """`Bill[]` of a BillResponseV2 (`Bill: []` means nothing is due)."""
    return [bill(raw, tz) for raw in _list(body.get("Bill"), "Bill")]


def payment(raw: Any, tz: tzinfo) -> DigitPayment:
    p = _obj(raw, "Payment")
    details = []
    for rd in _list(p.get("paymentDetails"), "paymentDetails"):
        d = _obj(rd, "paymentDetail")
        b = d.get("bill") if isinstance(d.get("bill"), Mapping) else {}
        assert isinstance(b, Mapping)
        lines = tuple(
            ReceiptLine(
                tax_head_code=str(a.get("taxHeadCode") or ""),
                amount=money(a.get("amount"), field="billAccountDetail.amount"),
                adjusted_amount=money(
                    a.get("adjustedAmount") or Decimal(0), field="billAccountDetail.adjustedAmount"
                ),
            )
            for bd in _list(b.get("billDetails"), "bill.billDetails")
            for a in _list(_obj(bd, "billDetail").get("billAccountDetails"), "billAccountDetails")
        )
        details.append(
            DigitPaymentDetail(
                id=str(d.get("id") or ""),
                bill_id=str(d.get("billId") or b.get("id") or ""),
                business_service=str(d.get("businessService") or b.get("businessService") or ""),
                receipt_number=str(d.get("receiptNumber") or ""),
                receipt_date=epoch_ms_to_datetime(d.get("receiptDate"), tz),
                total_due=money(d.get("totalDue"), field="paymentDetail.totalDue"),
                amount_paid=money(d.get("totalAmountPaid"), field="paymentDetail.totalAmountPaid"),
                consumer_code=_str(b.get("consumerCode")),
                bill_number=_str(b.get("billNumber")),
                lines=lines,
                bill_status=_str(b.get("status")),
                bill_cancelled=_bool(b.get("isCancelled")),
                bill=_paid_bill(b, tz),
            )
        )
    if not p.get("id"):
        raise MalformedAnswer("Payment.id is missing")
    additional = p.get("additionalDetails")
    return DigitPayment(
        id=str(p["id"]),
        tenant_id=str(p.get("tenantId") or ""),
        payment_mode=str(p.get("paymentMode") or ""),
        payment_status=_str(p.get("paymentStatus")),
        instrument_status=_str(p.get("instrumentStatus")),
        total_amount_paid=money(p.get("totalAmountPaid"), field="Payment.totalAmountPaid"),
        transaction_number=_str(p.get("transactionNumber")),
        transaction_date=epoch_ms_to_datetime(p.get("transactionDate"), tz),
        paid_by=_str(p.get("paidBy")),
        payer_name=_str(p.get("payerName")),
        mobile_number=_str(p.get("mobileNumber")),
        additional_details=dict(additional) if isinstance(additional, Mapping) else {},
        details=tuple(details),
    )


def _paid_bill(raw: Mapping[str, Any], tz: tzinfo) -> Bill | None:
    """The bill a paymentDetail carries, or None: a receipt can be printed without its tax heads,
    so a bill of an unexpected shape must not make the whole payment unreadable."""
    if not raw:
        return None
    try:
        return bill(raw, tz)
    except (MalformedAnswer, TypeError, ValueError, AttributeError):
        return None


def payments(body: Mapping[str, Any], tz: tzinfo) -> list[DigitPayment]:
    """`Payments[]` of a PaymentResponse (the yml's `Payment` key is wrong:
    docs/digit.md#contracts)."""
    return [payment(raw, tz) for raw in _list(body.get("Payments"), "Payments")]


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def payment_rules(records: Sequence[Any]) -> dict[str, PaymentRule]:
    """MDMS `BillingService.BusinessService` records, by code (docs/digit.md#mdms)."""
    rules: dict[str, PaymentRule] = {}
    for raw in records:
        r = _obj(raw, "BusinessService")
        code = r.get("code")
        if not code:
            continue
        rules[str(code)] = PaymentRule(
            business_service=str(code),
            part_payment_allowed=_bool(r.get("partPaymentAllowed")),
            advance_allowed=_bool(r.get("isAdvanceAllowed")),
            min_amount_payable=_opt_money(r.get("minAmountPayable"), field="minAmountPayable"),
            modes_not_allowed=frozenset(
                str(m).upper()
                for m in _list(r.get("collectionModesNotAllowed"), "collectionModesNotAllowed")
            ),
        )
    return rules


def tenants(records: Sequence[Any]) -> list[Tenant]:
    """MDMS `tenant.tenants` records."""
    result = []
    for raw in records:
        t = _obj(raw, "tenant")
        if not t.get("code"):
            continue
        city = t.get("city")
        result.append(
            Tenant(
                code=str(t["code"]),
                name=str(t.get("name") or t["code"]),
                city_name=_str(city.get("name")) if isinstance(city, Mapping) else None,
            )
        )
    return result
