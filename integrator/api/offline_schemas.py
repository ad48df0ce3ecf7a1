"""What the offline and cash views of the PoS API load and answer (`integrator.api.offline`), and
the schemas that document them in /openapi.json.

    OfflinePaymentSchema    one payment of POST /v1/payments/batch (what `_load_item` loads)
    BatchAnswerSchema       its answer: one BatchItemSchema per payment, in order
    conflict_view(conflict, wire)          a quarantined item's `conflict`    ConflictSchema
    limits_view(device, limits, ...)       GET /v1/devices/me/limits          DeviceLimitsSchema
    cash_view(device, limits, ...)         GET /v1/devices/me/cash            DeviceCashSchema

As in `schemas.responses`, every amount goes through `wire` (one scale: OFFLINE_CASH_LIMIT=20000.00
is written 20000, as every other answer writes its amounts), and a test holds each view to its
schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, post_load, validate

from integrator.api.errors import pointer
from integrator.api.problems import CATALOGUE
from integrator.api.schemas.fields import (
    EARLIEST_DATETIME_TEXT,
    KEY_PATTERN,
    OffsetDateTime,
    pattern_rule,
)
from integrator.api.schemas.requests import COLLECTED_AT_SKEW, PaymentRequestSchema
from integrator.api.schemas.responses import Amount, PaymentSchema
from integrator.api.wire import Wire
from integrator.payments.cash import DeviceLimits
from integrator.payments.cash_records import Holding
from integrator.payments.devices import Device
from integrator.payments.offline import QUARANTINE_CODES, OfflineItem, Outcome

#: The amounts of a quarantined item's `conflict`: its own, and those of each bill in `bills`.
_CONFLICT_AMOUNTS = frozenset({"offlineCashLimit"})
_CHANGED_BILL_AMOUNTS = frozenset({"amount", "servedTotal", "currentTotal"})


def limits_view(device: Device, limits: DeviceLimits, batch_max: int, wire: Wire) -> dict[str, Any]:
    return {
        "deviceId": device.id,
        "offlineMaxAgeSeconds": limits.offline_max_age_seconds,
        "offlineCashLimit": wire.amount(limits.offline_cash_limit),
        "cashInHandCap": wire.amount(limits.cash_in_hand_cap),
        "batchMax": batch_max,
    }


def cash_view(
    device: Device,
    limits: DeviceLimits,
    by_mode: Mapping[str, Decimal],
    holdings: list[Holding],
    wire: Wire,
) -> dict[str, Any]:
    return {
        "deviceId": device.id,
        "cashInHandCap": wire.amount(limits.cash_in_hand_cap),
        "byMode": [
            {"paymentMode": mode, "amount": wire.amount(amount)}
            for mode, amount in sorted(by_mode.items())
        ],
        "byCity": [
            {
                "tenantId": h.tenant_id,
                "paymentMode": h.payment_mode,
                "amount": wire.amount(h.amount),
            }
            for h in holdings
        ],
    }


def conflict_view(conflict: Mapping[str, Any], wire: Wire) -> dict[str, Any]:
    """What changed, as the ledger keeps it, with its violations' fields as pointers (the domain
    names them `bills[0].amount`) and its amounts on the wire's scale."""
    view = _amounts(conflict, _CONFLICT_AMOUNTS, wire)
    violations = view.get("violations")
    if isinstance(violations, list):
        view["violations"] = [
            {**v, "field": pointer(v.get("field"))} if isinstance(v, Mapping) else v
            for v in violations
        ]
    bills = view.get("bills")
    if isinstance(bills, list):
        view["bills"] = [
            _amounts(b, _CHANGED_BILL_AMOUNTS, wire) if isinstance(b, Mapping) else b for b in bills
        ]
    return view


def _amounts(values: Mapping[str, Any], keys: frozenset[str], wire: Wire) -> dict[str, Any]:
    return {
        k: wire.amount(v) if k in keys and isinstance(v, Decimal) else v for k, v in values.items()
    }


# --- POST /v1/payments/batch -----------------------------------------------------------------

#: The field of a batch item that carries its key (POST /v1/payments takes it as a header).
BATCH_KEY_FIELD = "idempotencyKey"


class OfflinePaymentSchema(PaymentRequestSchema):
    """A payment of POST /v1/payments/batch: a payment request as POST /v1/payments takes it,
    with its key in `idempotencyKey` and `collectedAt` required. Loads an OfflineItem."""

    idempotencyKey = fields.String(
        required=True,
        attribute="idempotency_key",
        validate=pattern_rule(
            KEY_PATTERN, "IDEMPOTENCY_KEY_INVALID", "1-64 of A-Z a-z 0-9 . _ : -"
        ),
        metadata={
            "description": "The device's own reference for this payment, as POST /v1/payments's "
            "Idempotency-Key (IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID): each payment "
            "its own. Uploading it again with the same body answers the same payment "
            "(`replayed: true`); with another body it is refused IDEMPOTENCY_KEY_REUSED.",
            "example": "counter7-000124",
        },
    )
    collectedAt = OffsetDateTime(
        required=True,
        attribute="collected_at",
        metadata={
            "description": "When the device took the money (ISO 8601 with offset): "
            f"{EARLIEST_DATETIME_TEXT} or later (INVALID_DATETIME) and at most "
            f"{int(COLLECTED_AT_SKEW.total_seconds() // 60)} minutes ahead of the integrator's "
            "clock (COLLECTED_AT_IN_FUTURE): such an item is refused. One "
            "collected longer ago than `offlineMaxAgeSeconds` (GET /v1/devices/me/limits) is "
            "quarantined (COLLECTED_TOO_LONG_AGO).",
            "example": "2024-05-01T09:10:00+05:30",
        },
    )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> OfflineItem:
        key = data.pop("idempotency_key")
        return OfflineItem(idempotency_key=key, request=super().make(data, **kwargs))


class BatchItemProblemSchema(Schema):
    """Why a payment was refused: nothing was stored."""

    type = fields.String(
        required=True,
        metadata={"description": "/docs#problem-CODE: the code's entry in the error catalogue."},
    )
    code = fields.String(
        required=True,
        validate=validate.OneOf(list(CATALOGUE)),
        metadata={"description": "Stable; devices switch on it. See the error catalogue."},
    )
    field = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The item's field at fault, as a path in the item (bills/0/amount); "
            '"" when the item itself is not an object; null when no one field is.'
        },
    )
    detail = fields.String(required=True, metadata={"description": "For people, not for code."})
    retryAfter = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "Seconds after which uploading this payment again, with the same key, "
            "can succeed (DIGIT or the ledger unavailable, the same key being uploaded); null: "
            "uploading it again unchanged will not.",
            "example": 30,
        },
    )


class ConflictViolationSchema(Schema):
    code = fields.String(required=True, validate=validate.OneOf(list(CATALOGUE)))
    field = fields.String(
        required=True, allow_none=True, metadata={"description": "e.g. bills/0/billId"}
    )
    message = fields.String(required=True)


class ChangedBillSchema(Schema):
    """A bill of the payment, as it was served to the device and as DIGIT has it now."""

    billId = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": "What the device collected for it."})
    servedTotal = Amount(metadata={"description": "The bill's total when the device fetched it."})
    currentBillId = fields.String(
        metadata={"description": "The consumer's bill DIGIT shows now, when there is one."}
    )
    currentTotal = Amount(
        metadata={"description": "Its total now; 0 when DIGIT shows no bill due (paid)."}
    )


class ConflictSchema(Schema):
    """What changed while the device was offline (a quarantined payment), by `code`: a payment
    rule or the bill's state in DIGIT (`violations`, `bills`); a limit of the device
    (`offlineMaxAgeSeconds`, `offlineCashLimit`); another payment of the consumer under way
    (`otherPaymentId`)."""

    code = fields.String(
        required=True,
        validate=validate.OneOf(sorted(QUARANTINE_CODES)),
        metadata={
            "description": "What changed; its row in the error catalogue says what it means."
        },
    )
    message = fields.String(required=True, metadata={"description": "For people."})
    violations = fields.List(
        fields.Nested(ConflictViolationSchema),
        metadata={"description": "Each rule the payment breaks now."},
    )
    bills = fields.List(fields.Nested(ChangedBillSchema))
    offlineMaxAgeSeconds = fields.Integer(
        metadata={"description": "COLLECTED_TOO_LONG_AGO, OFFLINE_CASH_LIMIT_EXCEEDED: the limits."}
    )
    offlineCashLimit = Amount()
    offlineCashHeldBefore = Amount(
        metadata={
            "description": "OFFLINE_CASH_LIMIT_EXCEEDED: CASH from earlier offline uploads the "
            "device still held (since its last CASH hand-over) when this upload came."
        }
    )
    otherPaymentId = fields.String(
        allow_none=True,
        metadata={
            "description": "PAYMENT_IN_PROGRESS: this device's payment in the way (null when "
            "another device's)."
        },
    )


class BatchItemSchema(Schema):
    """The answer for one uploaded payment."""

    index = fields.Integer(
        required=True, metadata={"description": "The payment's position in the upload."}
    )
    idempotencyKey = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The payment's key as sent (null when it sent none)."},
    )
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    replayed = fields.Boolean(
        required=True,
        metadata={"description": "true when an earlier upload with this key was answered so."},
    )
    payment = fields.Nested(
        PaymentSchema,
        required=True,
        allow_none=True,
        metadata={"description": "accepted and quarantined: the payment stored."},
    )
    problem = fields.Nested(
        BatchItemProblemSchema,
        required=True,
        allow_none=True,
        metadata={"description": "refused: why (nothing was stored)."},
    )
    conflict = fields.Nested(
        ConflictSchema,
        required=True,
        allow_none=True,
        metadata={"description": "quarantined: what changed."},
    )


class BatchAnswerSchema(Schema):
    payments = fields.List(
        fields.Nested(BatchItemSchema),
        required=True,
        metadata={"description": "One entry per uploaded payment, in the upload's order."},
    )


# --- GET /v1/devices/me/limits and /cash -----------------------------------------------------


class DeviceLimitsSchema(Schema):
    deviceId = fields.String(required=True)
    offlineMaxAgeSeconds = fields.Integer(
        required=True,
        metadata={
            "description": "An uploaded payment collected longer ago is quarantined "
            "(COLLECTED_TOO_LONG_AGO).",
            "example": 259200,
        },
    )
    offlineCashLimit = Amount(
        required=True,
        metadata={
            "description": "Most CASH one upload may carry, counted in the order the money was "
            "taken; the CASH payments beyond it are quarantined (OFFLINE_CASH_LIMIT_EXCEEDED).",
            "example": 20000,
        },
    )
    cashInHandCap = Amount(
        required=True,
        allow_none=True,
        metadata={
            "description": "CASH the device may hold before CASH payments are refused "
            "(CASH_IN_HAND_CAP_REACHED) until a hand-over; null: no cap.",
            "example": 50000,
        },
    )
    batchMax = fields.Integer(
        required=True,
        metadata={
            "description": "Most payments in one POST /v1/payments/batch (OFFLINE_BATCH_MAX; "
            "BATCH_SIZE_OUT_OF_RANGE beyond).",
            "example": 50,
        },
    )


class ModeCashSchema(Schema):
    paymentMode = fields.String(required=True)
    amount = Amount(required=True)


class CityCashSchema(Schema):
    tenantId = fields.String(required=True)
    paymentMode = fields.String(required=True)
    amount = Amount(required=True)


class DeviceCashSchema(Schema):
    deviceId = fields.String(required=True)
    cashInHandCap = Amount(
        required=True,
        allow_none=True,
        metadata={"description": "As in GET /v1/devices/me/limits; null: no cap."},
    )
    byMode = fields.List(
        fields.Nested(ModeCashSchema),
        required=True,
        metadata={"description": "Per payment mode: its cities' figures added up."},
    )
    byCity = fields.List(
        fields.Nested(CityCashSchema),
        required=True,
        metadata={"description": "Per city and payment mode; a figure of 0 is left out."},
    )
