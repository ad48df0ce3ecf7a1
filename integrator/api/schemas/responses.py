"""Response shapes of the PoS API: the JSON each view answers, and the schemas that document it.

    bill_view(offer, wire)                  one bill of GET /v1/bills    BillSchema
    payment_view(payment, wire)             a payment                    PaymentSchema
    validation_view(request, offers, wire)  /v1/payments/validate        ValidationResponseSchema
    receipt_view(receipt, wire)             GET /v1/receipts             ReceiptSchema
    ProblemSchema                           every error (integrator.api.errors)

Views send the `*_view` dicts as they are: every time and amount in them went through `wire`
(one zone, one scale; see `integrator.api.wire`). The schemas describe those dicts in
/openapi.json, and a test holds each view to its schema. Dumping a domain object with a schema
(`PaymentSchema().dump(payment)`) goes through the same view with the default zone; webhooks
call `payment_view` with the configured wire instead, so their payload equals GET's answer.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from integrator.api.problems import CATALOGUE
from integrator.api.wire import Wire
from integrator.masking import mask_mobile
from integrator.payments.models import (
    AmountExactness,
    HistoryEntry,
    Payment,
    PaymentBill,
    PaymentStatus,
)
from integrator.payments.resolution_records import Resolution, receipted_by_hand, resolution_of
from integrator.payments.use_cases import BillOffer, PaymentRequest, PendingPayment, Receipt
from integrator.receipts import ReceiptStatus

DEFAULT_WIRE = Wire()

# --- the two wire fields ---------------------------------------------------------------------


class Amount(fields.Field[Decimal]):
    """An amount in an answer: a plain JSON number, whole rupees as integers and paise as two
    decimals (`Wire.amount`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "type": "number",
            "description": "Rupees as a plain JSON number: whole rupees without decimals (815), "
            "paise as two decimals (30.30) where DIGIT holds them.",
            "example": 815,
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Decimal | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return Wire.amount(value)


class Timestamp(fields.Field[str]):
    """A time in an answer: ISO 8601 with the offset of DIGIT_TIMEZONE (`Wire.timestamp`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with the offset of DIGIT_TIMEZONE (+05:30 by default).",
            "example": "2024-05-01T15:30:00+05:30",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            return DEFAULT_WIRE.timestamp(value)
        return value  # already written by a view


# --- bills -----------------------------------------------------------------------------------


#: a tax head's share is DIGIT's, to the paisa: only a bill's total is whole rupees
TAX_HEAD_AMOUNT = (
    "Rupees; may carry paise and be negative (rebates, round-off), e.g. 30.30 or -0.38."
)


class TaxHeadAmountSchema(Schema):
    taxHeadCode = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": TAX_HEAD_AMOUNT, "example": 30.3})


class PendingPaymentSchema(Schema):
    """A payment of ours for the bill's consumer that is not finished: do not collect again."""

    id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The payment's id; null when another device made it."},
    )
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in PaymentStatus]))
    byThisDevice = fields.Boolean(required=True)
    message = fields.String(required=True, metadata={"example": "A payment is in progress."})


def pending_view(pending: PendingPayment | None) -> dict[str, Any] | None:
    """Another device's payment is "a payment is in progress", without its id."""
    if pending is None:
        return None
    mine = pending.by_this_device
    return {
        "id": pending.id if mine else None,
        "status": pending.status,
        "byThisDevice": mine,
        "message": "A payment by this device is in progress."
        if mine
        else "A payment is in progress.",
    }


class PayabilityFields(Schema):
    """What may be paid on a bill now: the fields GET /v1/bills and /validate share."""

    minimumPayable = Amount(required=True)
    maximumPayable = Amount(required=True)
    amountExactness = fields.String(
        required=True, validate=validate.OneOf([e.value for e in AmountExactness])
    )
    pendingPayment = fields.Nested(PendingPaymentSchema, allow_none=True, required=True)
    payable = fields.Boolean(
        required=True,
        metadata={"description": "Whether the bill can be paid through the integrator now."},
    )
    notPayableReason = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "Why not, when `payable` is false: TENANT_NOT_COLLECTABLE (the "
            "integrator's DIGIT account may not record payments in the bill's city), "
            "SERVICE_NOT_COLLECTABLE (it may not look up the payments of the bill's service "
            "there, so an unanswered payment could never be checked)."
        },
    )


class BillSchema(PayabilityFields):
    """A bill a device may pay, with what may be paid on it."""

    billId = fields.String(required=True)
    billNumber = fields.String(required=True)
    tenantId = fields.String(required=True)
    businessService = fields.String(required=True)
    consumerCode = fields.String(required=True)
    payerName = fields.String(allow_none=True)
    mobileNumber = fields.String(
        allow_none=True, metadata={"description": "Masked: only the last 4 digits shown."}
    )
    billDate = Timestamp(allow_none=True)
    expiryDate = Timestamp(allow_none=True)
    periodFrom = Timestamp(allow_none=True)
    periodTo = Timestamp(allow_none=True)
    totalAmount = Amount(required=True)
    lines = fields.List(fields.Nested(TaxHeadAmountSchema), required=True)
    partPaymentAllowed = fields.Boolean(required=True)
    advanceAllowed = fields.Boolean(required=True)
    paymentModesNotAllowed = fields.List(fields.String(), required=True)

    @pre_dump
    def from_offer(self, offer: BillOffer, **kwargs: Any) -> dict[str, Any]:
        return bill_view(offer, DEFAULT_WIRE)


def bill_view(offer: BillOffer, wire: Wire) -> dict[str, Any]:
    """One bill of GET /v1/bills as BillSchema describes it.

    The bills answer is the busiest response the integrator writes, and marshmallow's field by
    field dump of it cost ~100 us per bill, more than building this dict; `list_bills` sends it.
    """
    bill, pay = offer.bill, offer.payability
    return {
        "billId": bill.id,
        "billNumber": bill.bill_number,
        "tenantId": bill.tenant_id,
        "businessService": bill.business_service,
        "consumerCode": bill.consumer_code,
        "payerName": bill.payer_name,
        "mobileNumber": mask_mobile(bill.mobile_number),
        "billDate": wire.timestamp(bill.bill_date),
        "expiryDate": wire.timestamp(bill.expires_at),
        "periodFrom": wire.timestamp(bill.period_from),
        "periodTo": wire.timestamp(bill.period_to),
        "totalAmount": wire.amount(bill.total_amount),
        "lines": [{"taxHeadCode": k, "amount": wire.amount(v)} for k, v in bill.lines().items()],
        "partPaymentAllowed": pay.part_payment_allowed,
        "advanceAllowed": pay.advance_allowed,
        "paymentModesNotAllowed": sorted(pay.payment_modes_not_allowed),
        **payability_view(offer, wire),
    }


def payability_view(offer: BillOffer, wire: Wire) -> dict[str, Any]:
    """The `PayabilityFields` of one offer."""
    pay = offer.payability
    return {
        "minimumPayable": wire.amount(pay.minimum_payable),
        "maximumPayable": wire.amount(pay.maximum_payable),
        "amountExactness": str(pay.exactness),
        "pendingPayment": pending_view(offer.pending_payment),
        "payable": offer.not_payable_reason is None,
        "notPayableReason": offer.not_payable_reason,
    }


class DuesReopeningSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["CANCEL", "DISHONOUR"]),
        metadata={"example": "CANCEL"},
    )
    reversedAt = Timestamp(required=True)


class BillsResponseSchema(Schema):
    bills = fields.List(fields.Nested(BillSchema), required=True)
    unsearchedTenants = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "Cities a state-wide mobile lookup could not search in time (the "
            "answer is partial: ask again, or search the city). Empty otherwise."
        },
    )
    duesReopening = fields.List(
        fields.Nested(DuesReopeningSchema),
        required=True,
        metadata={
            "description": "A consumer's payments that were cancelled or dishonoured and "
            "whose dues DIGIT has not re-opened as a new bill yet (billing does that a little "
            "later). Until then DIGIT shows the consumer as before the reversal: no bill means "
            "'not yet', not 'nothing due', and a bill shown (after a cancelled part payment) "
            "is short of what will be due: ask again shortly. Empty otherwise, and for mobile "
            "look-ups."
        },
    )


def dues_reopening_view(request: Any, wire: Wire) -> dict[str, Any]:
    """A CancellationRequest whose dues are being re-opened, as DuesReopeningSchema says."""
    return {"action": request.action.value, "reversedAt": wire.timestamp(request.completed_at)}


# --- payments --------------------------------------------------------------------------------


class PaymentBillSchema(Schema):
    billId = fields.String(required=True)
    billNumber = fields.String(required=True)
    consumerCode = fields.String(required=True)
    businessService = fields.String(required=True)
    amount = Amount(required=True)
    receiptNumber = fields.String(allow_none=True)
    receiptDate = Timestamp(allow_none=True)


class PaymentReceiptSchema(Schema):
    billId = fields.String(required=True)
    consumerCode = fields.String(required=True)
    businessService = fields.String(required=True)
    amount = Amount(required=True)
    receiptNumber = fields.String(required=True)
    receiptDate = Timestamp(allow_none=True)


class ReversalSchema(Schema):
    """The payment's latest cancellation (or dishonour) request and what became of it."""

    requestId = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(["CANCEL", "DISHONOUR"]))
    state = fields.String(
        required=True,
        validate=validate.OneOf(["REQUESTED", "REJECTED", "SENDING", "REFUSED", "DONE"]),
        metadata={
            "description": "REQUESTED: waiting for an operator's approval; REJECTED: an "
            "operator declined it; SENDING: approved, DIGIT's answer not yet known (looked up "
            "until DIGIT shows it applied or it no longer can be); REFUSED: DIGIT refused it, "
            "or never applied a call it left unanswered; DONE: DIGIT reversed the payment "
            "(status CANCELLED/DISHONOURED)."
        },
    )
    reason = fields.String(required=True)
    requestedAt = Timestamp(required=True)
    decidedAt = Timestamp(allow_none=True)
    reversedAt = Timestamp(allow_none=True)


class ResolutionSchema(Schema):
    """How an operator closed the payment (status RESOLVED)."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf([r.value for r in Resolution]),
        metadata={
            "description": "RECEIPTED_BY_HAND: a clerk registered the payment in DIGIT by hand "
            "and the operator gave DIGIT's receipt (`receiptNumber`, also in `receipts`): the "
            "receipt the payer holds. REFUNDED: the money went back to the payer; DIGIT holds "
            "no payment and there is no receipt."
        },
    )
    receiptNumber = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "DIGIT's receipt the operator closed it with (RECEIPTED_BY_HAND); "
            "null otherwise.",
            "example": "05/2024-25/000187",
        },
    )
    resolvedAt = Timestamp(required=True)


class CancellationSchema(Schema):
    """A cancellation request as the requesting device sees it (POST .../cancellation)."""

    id = fields.String(required=True)
    paymentId = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(["CANCEL", "DISHONOUR"]))
    state = fields.String(required=True, metadata={"example": "REQUESTED"})
    reason = fields.String(required=True)
    requestedAt = Timestamp(required=True)


class PaymentSchema(Schema):
    """A payment as its device sees it. `receipts` is filled once it is REGISTERED (and kept,
    marked by `status`, once CANCELLED or DISHONOURED), or once an operator closed it RESOLVED
    as RECEIPTED_BY_HAND (DIGIT's receipt, verified); never when it was REFUNDED."""

    id = fields.String(required=True)
    idempotencyKey = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in PaymentStatus]))
    provisional = fields.Boolean(
        required=True,
        metadata={"description": "Accepted on a bill snapshot while DIGIT was unreachable."},
    )
    tenantId = fields.String(required=True)
    paymentMode = fields.String(required=True)
    totalAmount = Amount(required=True)
    collectedAt = Timestamp(allow_none=True)
    bills = fields.List(fields.Nested(PaymentBillSchema), required=True)
    receipts = fields.List(fields.Nested(PaymentReceiptSchema), required=True)
    createdAt = Timestamp(required=True)
    registeredAt = Timestamp(allow_none=True)
    attempts = fields.Integer(required=True)
    lastError = fields.String(
        allow_none=True,
        metadata={"description": "Why the last registration attempt did not succeed, for people."},
    )
    reversal = fields.Nested(ReversalSchema, allow_none=True)
    resolution = fields.Nested(
        ResolutionSchema,
        allow_none=True,
        metadata={"description": "How an operator closed it, when status is RESOLVED; else null."},
    )

    @pre_dump
    def from_payment(self, payment: Payment, **kwargs: Any) -> dict[str, Any]:
        return payment_view(payment, DEFAULT_WIRE)


def _payment_bill(bill: PaymentBill, wire: Wire) -> dict[str, Any]:
    return {
        "billId": bill.bill_id,
        "billNumber": bill.bill_number,
        "consumerCode": bill.consumer_code,
        "businessService": bill.business_service,
        "amount": wire.amount(bill.amount),
        "receiptNumber": bill.receipt_number,
        "receiptDate": wire.timestamp(bill.receipt_date),
    }


def _payment_receipt(bill: PaymentBill, wire: Wire) -> dict[str, Any]:
    """A receipt of PaymentSchema: its bill's entry without the bill number."""
    return {k: v for k, v in _payment_bill(bill, wire).items() if k != "billNumber"}


def payment_view(payment: Payment, wire: Wire) -> dict[str, Any]:
    """A payment as PaymentSchema describes it."""
    registered = payment.status in _HAS_RECEIPTS or receipted_by_hand(payment)
    return {
        "id": payment.id,
        "idempotencyKey": payment.idempotency_key,
        "status": str(payment.status),
        "provisional": payment.provisional,
        "tenantId": payment.tenant_id,
        "paymentMode": payment.payment_mode,
        "totalAmount": wire.amount(payment.total_amount),
        "collectedAt": wire.timestamp(payment.collected_at),
        "bills": [_payment_bill(b, wire) for b in payment.bills],
        "receipts": [
            _payment_receipt(b, wire) for b in payment.bills if registered and b.receipt_number
        ],
        "createdAt": wire.timestamp(payment.created_at),
        "registeredAt": wire.timestamp(payment.registered_at),
        "attempts": payment.attempts,
        "lastError": last_error_text(payment.last_error),
        "reversal": reversal_view(payment, wire),
        "resolution": resolution_view(payment, wire),
    }


# Statuses whose receipts are DIGIT's. RESOLVED is not among them: only a payment closed with a
# receipt the operator's check found in DIGIT has one (`receipted_by_hand`); a refund has none.
_HAS_RECEIPTS = frozenset(
    {PaymentStatus.REGISTERED, PaymentStatus.CANCELLED, PaymentStatus.DISHONOURED}
)
#: History events of a reversal request (integrator.payments.cancellation) -> its state.
_REVERSAL_EVENTS = {
    "reversal_requested": "REQUESTED",
    "reversal_rejected": "REJECTED",
    "reversal_unknown": "SENDING",
    "reversal_refused": "REFUSED",
    "reversal_not_applied": "REFUSED",  # left unanswered and never applied by DIGIT
}


def reversal_view(payment: Payment, wire: Wire) -> dict[str, Any] | None:
    """The latest reversal request, read from the payment's history (so a webhook, which only
    has the payment, shows the same as GET /v1/payments/{id})."""
    found: dict[str, Any] | None = None
    for entry in payment.history:
        request_id = str(entry.detail.get("requestId", ""))
        if entry.event == "reversal_requested":
            found = {
                "requestId": request_id,
                "action": str(entry.detail.get("action", "CANCEL")),
                "state": "REQUESTED",
                "reason": entry.reason or "",
                "requestedAt": wire.timestamp(_requested_at(entry)),
                "decidedAt": None,
                "reversedAt": None,
            }
        elif found is None or request_id != found["requestId"]:
            continue
        elif entry.event in _REVERSAL_EVENTS:
            found["state"] = _REVERSAL_EVENTS[entry.event]
            found["decidedAt"] = found["decidedAt"] or wire.timestamp(entry.at)
        elif entry.to_status in (PaymentStatus.CANCELLED, PaymentStatus.DISHONOURED):
            found["state"] = "DONE"
            found["decidedAt"] = found["decidedAt"] or wire.timestamp(entry.at)
            found["reversedAt"] = wire.timestamp(entry.at)
    return found


def _requested_at(entry: HistoryEntry) -> datetime:
    """When the reversal was requested: the request's own time (as the 202 answer gave it), or
    the history entry's for one recorded before the entry carried it."""
    stated = entry.detail.get("requestedAt")
    if isinstance(stated, str):
        try:
            return datetime.fromisoformat(stated)
        except ValueError:
            pass
    return entry.at


def resolution_view(payment: Payment, wire: Wire) -> dict[str, Any] | None:
    """How an operator closed the payment, as ResolutionSchema says; None unless RESOLVED."""
    found = resolution_of(payment)
    if found is None:
        return None
    return {
        "kind": found.kind,
        "receiptNumber": found.receipt_number,
        "resolvedAt": wire.timestamp(found.resolved_at),
    }


def cancellation_view(request: Any, wire: Wire) -> dict[str, Any]:
    """A CancellationRequest (integrator.payments.cancellation) as CancellationSchema says."""
    return {
        "id": request.id,
        "paymentId": request.payment_id,
        "action": request.action.value,
        "state": request.state.value,
        "reason": request.reason,
        "requestedAt": wire.timestamp(request.requested_at),
    }


# The domain records the last error as `f"{type(exc).__name__}: {exc}"`, where a DIGIT error's
# str carries the endpoint, HTTP status and a list repr of DIGIT's codes. A device gets a sentence.
_DIGIT_ERRORS = {
    "DigitUnavailable": "DIGIT could not be reached; the integrator keeps retrying.",
    "DigitOutcomeUnknown": (
        "DIGIT's answer to the last attempt was lost; the integrator checks DIGIT before "
        "trying again."
    ),
    "DigitAuthError": "The integrator could not log in to DIGIT; it keeps retrying.",
    "DigitTokenRefused": "DIGIT refused the integrator's login token; it keeps retrying.",
    "DigitAuthLocked": "Logins to DIGIT are suspended until an operator acts.",
    "DigitForbidden": "The integrator's DIGIT account may not register payments; an operator "
    "must act.",
    "DigitRejected": "DIGIT refused the payment.",
}
_CLASS_PREFIX = re.compile(r"\b([A-Z][A-Za-z]+(?:Error|Unavailable|Unknown|Rejected|Refused|"
                           r"Locked|Forbidden|Exception)):\s*")  # fmt: skip
_ENDPOINT = re.compile(r"\s*\[[^\]'\"]*\]")  # [collection-services/payments/_create]
_STATUS = re.compile(r"\s*\bstatus=\d+")
_CODES = re.compile(r"\s*\bcodes=\[([^\]]*)\]")
_LAST_ERROR = re.compile(r"^([A-Z_]+): last error (.*)$", re.DOTALL)


def last_error_text(raw: str | None) -> str | None:
    """The domain's last error as a sentence for people: no class names, endpoints or reprs."""
    if not raw:
        return None
    wrapped = _LAST_ERROR.match(raw)
    if wrapped is not None:
        reason, inner = wrapped.groups()
        why = last_error_text(inner) if inner != "none" else None
        stopped = f"Registration stopped ({reason.replace('_', ' ').lower()})."
        return f"{stopped} Last error: {why}" if why else stopped
    codes = [c.strip().strip("'\"") for m in _CODES.finditer(raw) for c in m.group(1).split(",")]
    text = _ENDPOINT.sub("", _STATUS.sub("", _CODES.sub("", raw)))
    found = _CLASS_PREFIX.search(text)
    if found is not None:
        text = _DIGIT_ERRORS.get(found.group(1), "Registration with DIGIT failed; it is retried.")
    text = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1).replace("'", ""), text).strip()
    if codes:
        text = f"{text.rstrip('.')} (DIGIT codes: {', '.join(c for c in codes if c)})."
    return text[:1].upper() + text[1:] if text else None


# --- validation ------------------------------------------------------------------------------


class ValidatedBillSchema(PayabilityFields):
    """One bill of a validated payment: the amount asked for and what may be paid."""

    billId = fields.String(required=True)
    amount = Amount(required=True)
    billNumber = fields.String(required=True)
    consumerCode = fields.String(required=True)
    businessService = fields.String(required=True)
    totalAmount = Amount(required=True)


class ValidationResponseSchema(Schema):
    valid = fields.Boolean(required=True)
    tenantId = fields.String(required=True)
    totalAmount = Amount(required=True)
    bills = fields.List(fields.Nested(ValidatedBillSchema), required=True)


def validation_view(request: PaymentRequest, offers: list[BillOffer], wire: Wire) -> dict[str, Any]:
    """What /v1/payments/validate answers: per bill, the asked amount beside what may be paid."""
    by_id = {offer.bill.id: offer for offer in offers}
    bills = []
    for line in request.bills:
        offer = by_id.get(line.bill_id)
        if offer is None:
            continue
        bill = offer.bill
        bills.append(
            {
                "billId": line.bill_id,
                "amount": wire.amount(line.amount),
                "billNumber": bill.bill_number,
                "consumerCode": bill.consumer_code,
                "businessService": bill.business_service,
                "totalAmount": wire.amount(bill.total_amount),
                **payability_view(offer, wire),
            }
        )
    return {
        "valid": True,
        "tenantId": request.tenant_id,
        "totalAmount": wire.amount(request.total_amount),
        "bills": bills,
    }


# --- receipts --------------------------------------------------------------------------------


class TaxHeadLineSchema(Schema):
    taxHeadCode = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": TAX_HEAD_AMOUNT, "example": 1000.43})


class ReceiptSchema(Schema):
    receiptNumber = fields.String(required=True)
    receiptDate = Timestamp(allow_none=True)
    tenantId = fields.String(required=True)
    businessService = fields.String(required=True)
    consumerCode = fields.String(allow_none=True)
    billId = fields.String(required=True)
    billNumber = fields.String(allow_none=True)
    payerName = fields.String(allow_none=True)
    paidBy = fields.String(allow_none=True)
    paymentMode = fields.String(required=True)
    amountPaid = Amount(required=True)
    totalDue = Amount(allow_none=True)
    lines = fields.List(fields.Nested(TaxHeadLineSchema), required=True)
    mobileNumber = fields.String(
        allow_none=True,
        metadata={
            "description": "The payer's mobile, masked (only the last 4 digits shown); only on a "
            "receipt of a payment this device collected, null otherwise."
        },
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in ReceiptStatus]),
        metadata={
            "description": "The DIGIT payment's standing: REGISTERED, or CANCELLED / DISHONOURED "
            "(its cheque or DD bounced) when DIGIT reversed it: then the receipt is not valid."
        },
    )
    valid = fields.Boolean(
        required=True,
        metadata={
            "description": "false when the payment was cancelled or dishonoured: the receipt is "
            "not valid (a print says CANCELLED / THIS RECEIPT IS NOT VALID)."
        },
    )


def receipt_view(receipt: Receipt, wire: Wire) -> dict[str, Any]:
    """A DIGIT receipt as ReceiptSchema describes it."""
    return {
        "receiptNumber": receipt.receipt_number,
        "receiptDate": wire.timestamp(receipt.receipt_date),
        "tenantId": receipt.tenant_id,
        "businessService": receipt.business_service,
        "consumerCode": receipt.consumer_code,
        "billId": receipt.bill_id,
        "billNumber": receipt.bill_number,
        "payerName": receipt.payer_name,
        "paidBy": receipt.paid_by,
        "paymentMode": receipt.payment_mode,
        "amountPaid": wire.amount(receipt.amount_paid),
        "totalDue": wire.amount(receipt.total_due),
        "lines": [
            {"taxHeadCode": line.tax_head_code, "amount": wire.amount(line.amount)}
            for line in receipt.lines
        ],
        "mobileNumber": mask_mobile(receipt.mobile_number),
        "status": receipt.status.value,
        "valid": receipt.valid,
    }


# --- problems --------------------------------------------------------------------------------


class FieldErrorSchema(Schema):
    field = fields.String(
        allow_none=True, metadata={"description": "Path in the request, e.g. bills/0/amount."}
    )
    code = fields.String(
        required=True,
        metadata={
            "description": "A code of the catalogue (/docs#problems); under DIGIT_REJECTED, "
            "DIGIT's own code."
        },
    )
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable `code` and per-field `errors`."""

    type = fields.String(
        required=True,
        metadata={"description": "/docs#problem-CODE: the code's entry in the error catalogue."},
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(
        required=True,
        validate=validate.OneOf(list(CATALOGUE)),
        metadata={"description": "Stable; devices switch on it. See the error catalogue."},
    )
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True)
