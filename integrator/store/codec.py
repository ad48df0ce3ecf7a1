"""JSON (de)serialisation of the domain values the store keeps. Decimal-exact, times timezone-aware.

Money goes through `integrator.jsonutil` (Decimal in, Decimal out, never a float), so `100.00`
comes back as `Decimal("100.00")`. Datetimes are ISO 8601 with their offset; naive datetimes are
refused so an ambiguous time is never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from integrator import jsonutil
from integrator.digit.models import Bill, BillAccountDetail, BillDetail
from integrator.payments.models import (
    Device,
    HistoryEntry,
    Payment,
    PaymentBill,
    PaymentStatus,
)


class CodecError(ValueError):
    """A stored document cannot be read (or a value cannot be written) faithfully."""


# --- scalars ---


def _dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise CodecError(f"refusing to store a naive datetime: {value!r}")
    return value.isoformat()


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise CodecError(f"stored datetime has no offset: {value!r}")
    return parsed


def _parse_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _dec(value: Any) -> Decimal:
    if not isinstance(value, Decimal):
        raise CodecError(f"expected a JSON number, got {value!r}")
    return value


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# --- bills (snapshots) ---


def bill_to_dict(bill: Bill) -> dict[str, Any]:
    return {
        "id": bill.id,
        "bill_number": bill.bill_number,
        "tenant_id": bill.tenant_id,
        "business_service": bill.business_service,
        "consumer_code": bill.consumer_code,
        "status": bill.status,
        "total_amount": bill.total_amount,
        "bill_date": _dt(bill.bill_date),
        "payer_name": bill.payer_name,
        "mobile_number": bill.mobile_number,
        "details": [
            {
                "id": d.id,
                "demand_id": d.demand_id,
                "from_period": _dt(d.from_period),
                "to_period": _dt(d.to_period),
                "expiry_date": _dt(d.expiry_date),
                "amount": d.amount,
                "account_details": [
                    {
                        "tax_head_code": a.tax_head_code,
                        "amount": a.amount,
                        "adjusted_amount": a.adjusted_amount,
                        "order": a.order,
                    }
                    for a in d.account_details
                ],
            }
            for d in bill.details
        ],
    }


def bill_from_dict(data: Mapping[str, Any]) -> Bill:
    return Bill(
        id=str(data["id"]),
        bill_number=str(data["bill_number"]),
        tenant_id=str(data["tenant_id"]),
        business_service=str(data["business_service"]),
        consumer_code=str(data["consumer_code"]),
        status=str(data["status"]),
        total_amount=_dec(data["total_amount"]),
        bill_date=_parse_dt(data.get("bill_date")),
        payer_name=_opt_str(data.get("payer_name")),
        mobile_number=_opt_str(data.get("mobile_number")),
        details=tuple(
            BillDetail(
                id=str(d["id"]),
                demand_id=_opt_str(d.get("demand_id")),
                from_period=_parse_dt(d.get("from_period")),
                to_period=_parse_dt(d.get("to_period")),
                expiry_date=_parse_dt(d.get("expiry_date")),
                amount=_dec(d["amount"]),
                account_details=tuple(
                    BillAccountDetail(
                        tax_head_code=str(a["tax_head_code"]),
                        amount=_dec(a["amount"]),
                        adjusted_amount=_dec(a["adjusted_amount"]),
                        order=int(a["order"]),
                    )
                    for a in d.get("account_details", ())
                ),
            )
            for d in data.get("details", ())
        ),
    )


def dump_bill(bill: Bill) -> str:
    return jsonutil.dumps(bill_to_dict(bill))


def load_bill(text: str | bytes) -> Bill:
    return bill_from_dict(jsonutil.loads(text))


# --- payments ---


def _history_to_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": _dt(entry.at),
        "actor": entry.actor,
        "event": entry.event,
        "from_status": None if entry.from_status is None else entry.from_status.value,
        "to_status": None if entry.to_status is None else entry.to_status.value,
        "reason": entry.reason,
        "codes": list(entry.codes),
        "latency_ms": entry.latency_ms,
        "detail": dict(entry.detail),
        "repeat_count": entry.count,
        "last_at": _dt(entry.last_at),
    }


def _history_from_dict(data: Mapping[str, Any]) -> HistoryEntry:
    at = _parse_dt(data["at"])
    assert at is not None
    latency = data.get("latency_ms")
    return HistoryEntry(
        at=at,
        actor=str(data["actor"]),
        event=str(data["event"]),
        from_status=None if data.get("from_status") is None else PaymentStatus(data["from_status"]),
        to_status=None if data.get("to_status") is None else PaymentStatus(data["to_status"]),
        reason=_opt_str(data.get("reason")),
        codes=tuple(str(c) for c in data.get("codes", ())),
        latency_ms=None if latency is None else int(latency),
        detail=dict(data.get("detail") or {}),
        count=int(data.get("repeat_count", 1)),
        last_at=_parse_dt(data.get("last_at")),
    )


def _bill_line_to_dict(bill: PaymentBill) -> dict[str, Any]:
    return {
        "bill_id": bill.bill_id,
        "bill_number": bill.bill_number,
        "consumer_code": bill.consumer_code,
        "business_service": bill.business_service,
        "amount": bill.amount,
        "total_due": bill.total_due,
        "receipt_number": bill.receipt_number,
        "receipt_date": _dt(bill.receipt_date),
        "retargeted_from": bill.retargeted_from,
        "balance_left": bill.balance_left,
    }


def _bill_line_from_dict(data: Mapping[str, Any]) -> PaymentBill:
    return PaymentBill(
        bill_id=str(data["bill_id"]),
        bill_number=str(data["bill_number"]),
        consumer_code=str(data["consumer_code"]),
        business_service=str(data["business_service"]),
        amount=_dec(data["amount"]),
        total_due=_dec(data["total_due"]),
        receipt_number=_opt_str(data.get("receipt_number")),
        receipt_date=_parse_dt(data.get("receipt_date")),
        retargeted_from=_opt_str(data.get("retargeted_from")),
        balance_left=_opt_dec(data.get("balance_left")),
    )


def payment_to_dict(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "device_id": payment.device_id,
        "idempotency_key": payment.idempotency_key,
        "fingerprint": payment.fingerprint,
        "status": payment.status.value,
        "provisional": payment.provisional,
        "tenant_id": payment.tenant_id,
        "payment_mode": payment.payment_mode,
        "paid_by": payment.paid_by,
        "payer_name": payment.payer_name,
        "mobile_number": payment.mobile_number,
        "instrument_number": payment.instrument_number,
        "instrument_date": (
            None if payment.instrument_date is None else payment.instrument_date.isoformat()
        ),
        "transaction_number": payment.transaction_number,
        "collected_at": _dt(payment.collected_at),
        "bills": [_bill_line_to_dict(b) for b in payment.bills],
        "created_at": _dt(payment.created_at),
        "registered_at": _dt(payment.registered_at),
        "attempts": payment.attempts,
        "last_error": payment.last_error,
        "create_sent": payment.create_sent,
        "targeted_bill_ids": sorted(payment.targeted_bill_ids),
        "digit_payment_id": payment.digit_payment_id,
        "needs_attention_reason": payment.needs_attention_reason,
        "resolution": payment.resolution,
        "history": [_history_to_dict(h) for h in payment.history],
        "version": payment.version,
    }


def payment_from_dict(data: Mapping[str, Any]) -> Payment:
    created_at = _parse_dt(data["created_at"])
    if created_at is None:
        raise CodecError("payment without created_at")
    return Payment(
        id=str(data["id"]),
        device_id=str(data["device_id"]),
        idempotency_key=str(data["idempotency_key"]),
        fingerprint=str(data["fingerprint"]),
        status=PaymentStatus(data["status"]),
        provisional=bool(data.get("provisional", False)),
        tenant_id=str(data["tenant_id"]),
        payment_mode=str(data["payment_mode"]),
        paid_by=str(data["paid_by"]),
        payer_name=_opt_str(data.get("payer_name")),
        mobile_number=_opt_str(data.get("mobile_number")),
        instrument_number=_opt_str(data.get("instrument_number")),
        instrument_date=_parse_date(data.get("instrument_date")),
        transaction_number=_opt_str(data.get("transaction_number")),
        collected_at=_parse_dt(data.get("collected_at")),
        bills=tuple(_bill_line_from_dict(b) for b in data["bills"]),
        created_at=created_at,
        registered_at=_parse_dt(data.get("registered_at")),
        attempts=int(data.get("attempts", 0)),
        last_error=_opt_str(data.get("last_error")),
        create_sent=bool(data.get("create_sent", False)),
        targeted_bill_ids=frozenset(str(b) for b in data.get("targeted_bill_ids", ())),
        digit_payment_id=_opt_str(data.get("digit_payment_id")),
        needs_attention_reason=_opt_str(data.get("needs_attention_reason")),
        resolution=_opt_str(data.get("resolution")),
        history=tuple(_history_from_dict(h) for h in data.get("history", ())),
        version=int(data.get("version", 0)),
    )


def dump_payment(payment: Payment) -> str:
    return jsonutil.dumps(payment_to_dict(payment))


def load_payment(text: str | bytes) -> Payment:
    return payment_from_dict(jsonutil.loads(text))


# --- devices ---


def device_to_dict(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "tenants": list(device.tenants),
        "key_hash": device.key_hash,
        "revoked": device.revoked,
        "created_at": _dt(device.created_at),
        "revoked_at": _dt(device.revoked_at),
        "key_rotated_at": _dt(device.key_rotated_at),
    }


def device_from_dict(data: Mapping[str, Any]) -> Device:
    created_at = _parse_dt(data["created_at"])
    if created_at is None:
        raise CodecError("device without created_at")
    return Device(
        id=str(data["id"]),
        name=str(data["name"]),
        tenants=tuple(str(t) for t in data["tenants"]),
        key_hash=str(data["key_hash"]),
        revoked=bool(data.get("revoked", False)),
        created_at=created_at,
        revoked_at=_parse_dt(data.get("revoked_at")),
        key_rotated_at=_parse_dt(data.get("key_rotated_at")),
    )


def dump_device(device: Device) -> str:
    return jsonutil.dumps(device_to_dict(device))


def load_device(text: str | bytes) -> Device:
    return device_from_dict(jsonutil.loads(text))


# --- redis replies ---


def as_text(value: Any) -> str:
    """A Redis reply as str, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def as_opt_text(value: Any) -> str | None:
    return None if value is None else as_text(value)
