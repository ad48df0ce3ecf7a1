"""Marshmallow schemas of the PoS API: what the views load and dump, and what /openapi.json shows.

Request schemas refuse unknown fields and return the port's values (`PaymentRequest`, ...).
Every message a validator here can produce is registered with its rule's code by `coded()`, so a
422 names the field, the code and the message (`errors.field_errors`).

Money: the app's JSON provider parses every number as Decimal; `Money` accepts only those (never a
string, a bool or a float), finite, positive, at most 2 decimals and below `MAX_AMOUNT`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_dump,
    validate,
    validates,
    validates_schema,
)

from integrator.payments.models import AmountExactness, Payment, PaymentMode, PaymentStatus
from integrator.payments.use_cases import BillLine, BillOffer, PaymentRequest

# --- rule codes of messages ------------------------------------------------------------------

_CODED: dict[str, str] = {}

_MARSHMALLOW_CODES = {
    "Missing data for required field.": "REQUIRED",
    "Field may not be null.": "NOT_NULL",
    "Unknown field.": "UNKNOWN_FIELD",
    "Invalid input type.": "INVALID_TYPE",
    "Not a valid string.": "INVALID_TYPE",
    "Not a valid list.": "INVALID_TYPE",
    "Not a valid mapping type.": "INVALID_TYPE",
    "Not a valid date.": "INVALID_DATE",
    "Not a valid datetime.": "INVALID_DATETIME",
    "Not a valid aware datetime.": "INVALID_DATETIME",
}


def coded(code: str, message: str) -> str:
    """Register `message` as the text of rule `code`, and return it (for validators)."""
    known = _CODED.setdefault(message, code)
    if known != code:
        raise ValueError(f"message {message!r} already stands for {known}")
    return message


def code_of(message: str) -> str:
    """The rule code of a schema message (INVALID_FIELD when it has none)."""
    return _CODED.get(message) or _MARSHMALLOW_CODES.get(message) or "INVALID_FIELD"


# --- patterns and limits ---------------------------------------------------------------------

MAX_BILLS = 20
MAX_AMOUNT = Decimal(10) ** 9  # no single bill payment is anywhere near a billion rupees
MAX_NAME_LENGTH = 128  # collection's paidBy / payerName
MAX_REFERENCE_LENGTH = 128  # collection's transactionNumber / instrumentNumber
MAX_TENANT_LENGTH = 64  # collection's tenantId

TENANT_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$"  # pb, pb.amritsar (payments.devices)
MOBILE_PATTERN = r"^[6-9][0-9]{9}$"  # collection's mobileNumber
#: DIGIT's paidBy/payerName regex is `^[a-zA-Z]+(([_\-'`\. ][a-zA-Z ])?[a-zA-Z]*)*$` (digest 5.1).
#: Its nested quantifiers backtrack exponentially on a near-miss (24 letters and a digit take
#: seconds), so we match the same language with this unambiguous, linear form
#: (tests/unit/api/test_api_schemas.py checks they agree).
NAME_PATTERN = r"^[a-zA-Z]+(?:[_\-'`. ][a-zA-Z ][a-zA-Z]*)*$"
KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"  # Idempotency-Key (bare form)
CODE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # businessService
REFERENCE_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"  # printable ASCII, no edge spaces
IDENTIFIER_PATTERN = r"^[!-~]+$"  # billId, consumerCode, receiptNumber: printable, no spaces


class FullMatch(validate.Regexp):
    """Regexp that must match the whole value (`$` alone would accept a trailing newline)."""

    def __call__(self, value: Any) -> Any:
        regex: re.Pattern[str] = self.regex  # type: ignore[assignment]
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def _pattern(pattern: str, code: str, message: str) -> FullMatch:
    return FullMatch(pattern, error=coded(code, message))


def _length(name: str, maximum: int, minimum: int = 1) -> validate.Length:
    return validate.Length(
        min=minimum,
        max=maximum,
        error=coded("INVALID_LENGTH", f"{name} must be {minimum} to {maximum} characters long."),
    )


def _tenant_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            _length("tenantId", MAX_TENANT_LENGTH),
            _pattern(TENANT_PATTERN, "INVALID_TENANT", "Not a tenant id (e.g. pb.amritsar)."),
        ],
        metadata={"example": "pb.amritsar"},
        **kwargs,
    )


def _name_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            _length("A name", MAX_NAME_LENGTH),
            _pattern(
                NAME_PATTERN,
                "INVALID_NAME",
                "Invalid name. Only alphabets and special characters -, ',`, ., _",
            ),
        ],
        **kwargs,
    )


def _reference_field(name: str, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            _length(name, MAX_REFERENCE_LENGTH),
            _pattern(REFERENCE_PATTERN, "INVALID_REFERENCE", "Only printable ASCII characters."),
        ],
        **kwargs,
    )


def _mobile_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_pattern(MOBILE_PATTERN, "INVALID_MOBILE", "Invalid mobile number."),
        metadata={"example": "9876543210"},
        **kwargs,
    )


def _business_service_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_pattern(CODE_PATTERN, "INVALID_BUSINESS_SERVICE", "Not a businessService code."),
        metadata={"example": "WS"},
        **kwargs,
    )


def _identifier_field(name: str, maximum: int = 64, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            _length(name, maximum),
            _pattern(IDENTIFIER_PATTERN, "INVALID_IDENTIFIER", "Only printable ASCII, no spaces."),
        ],
        **kwargs,
    )


# --- custom fields ---------------------------------------------------------------------------


class Money(fields.Field[Decimal]):
    """A JSON number of rupees, kept as the exact Decimal the parser produced."""

    default_error_messages = {
        "type": coded("INVALID_TYPE", "Must be a JSON number (not a string)."),
        "finite": coded("INVALID_NUMBER", "Must be a finite number."),
        "positive": coded("NOT_POSITIVE", "Must be greater than 0."),
        "too_large": coded("TOO_LARGE", f"Must be below {MAX_AMOUNT}."),
        "decimals": coded("TOO_MANY_DECIMALS", "At most 2 decimal places."),
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if not isinstance(value, Decimal):  # str, bool, float, int: not from our parser's numbers
            raise self.make_error("type")
        if not value.is_finite():
            raise self.make_error("finite")
        if value <= 0:
            raise self.make_error("positive")
        if value >= MAX_AMOUNT:
            raise self.make_error("too_large")
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # finite
        if exponent < -2:
            if value != value.quantize(Decimal("0.01")):
                raise self.make_error("decimals")
            return value.quantize(Decimal("0.01"))  # 100.500 is 100.50
        if exponent > 0:
            return value.quantize(Decimal(1))  # 1E+3 is 1000
        return value

    def _serialize(self, value: Decimal | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class StrictDate(fields.Date):
    """A calendar day written exactly YYYY-MM-DD."""

    default_error_messages = {"invalid": coded("INVALID_DATE", "Must be a date YYYY-MM-DD.")}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class OffsetDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with its UTC offset."""

    default_error_messages = {
        "invalid": coded("INVALID_DATETIME", "Must be an ISO 8601 date-time with an offset."),
        "invalid_awareness": coded(
            "INVALID_DATETIME", "Must be an ISO 8601 date-time with an offset."
        ),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)


def _money(**kwargs: Any) -> fields.Decimal:
    """A Decimal money value in a response (dumped as a JSON number)."""
    return fields.Decimal(metadata={"example": 1200}, **kwargs)


# --- requests --------------------------------------------------------------------------------


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class BillLineSchema(StrictSchema):
    billId = _identifier_field("billId", required=True, attribute="bill_id")
    amount = Money(
        required=True,
        metadata={
            "type": "number",
            "minimum": 0.01,
            "maximum": 999999999.99,
            "multipleOf": 0.01,
            "description": "Rupees, a JSON number (never a string), at most 2 decimals.",
            "example": 1200,
        },
    )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> BillLine:
        return BillLine(**data)


class PaymentRequestSchema(StrictSchema):
    """POST /v1/payments and /v1/payments/validate."""

    tenantId = _tenant_field(required=True, attribute="tenant_id")
    paymentMode = fields.String(
        required=True,
        attribute="payment_mode",
        validate=validate.OneOf(
            [m.value for m in PaymentMode],
            error=coded("INVALID_PAYMENT_MODE", "Not a payment mode DIGIT knows."),
        ),
    )
    paidBy = _name_field(required=True, attribute="paid_by")
    payerName = _name_field(attribute="payer_name")
    mobileNumber = _mobile_field(attribute="mobile_number")
    instrumentNumber = _reference_field("instrumentNumber", attribute="instrument_number")
    instrumentDate = StrictDate(attribute="instrument_date", metadata={"example": "2024-04-01"})
    transactionNumber = _reference_field("transactionNumber", attribute="transaction_number")
    collectedAt = OffsetDateTime(attribute="collected_at")
    bills = fields.List(
        fields.Nested(BillLineSchema),
        required=True,
        validate=validate.Length(
            min=1,
            max=MAX_BILLS,
            error=coded("INVALID_BILL_COUNT", f"Between 1 and {MAX_BILLS} bills."),
        ),
    )

    @validates("bills")
    def distinct_bills(self, value: list[Any], **kwargs: Any) -> None:
        ids = [line.bill_id for line in value if isinstance(line, BillLine)]
        if len(set(ids)) != len(ids):
            raise ValidationError(coded("DUPLICATE_BILL_ID", "Each billId may appear only once."))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> PaymentRequest:
        data["bills"] = tuple(data["bills"])
        return PaymentRequest(**data)


@dataclass(frozen=True, kw_only=True)
class BillsQuery:
    """GET /v1/bills: by consumer (businessService + consumerCode) or by mobile number."""

    tenant_id: str
    business_service: str | None = None
    consumer_code: str | None = None
    mobile_number: str | None = None


class BillsQuerySchema(StrictSchema):
    tenantId = _tenant_field(required=True, attribute="tenant_id")
    businessService = _business_service_field(attribute="business_service")
    consumerCode = _identifier_field("consumerCode", 128, attribute="consumer_code")
    mobileNumber = _mobile_field(attribute="mobile_number")

    @validates_schema
    def one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        by_consumer = data.get("consumer_code") is not None
        by_mobile = data.get("mobile_number") is not None
        if by_consumer == by_mobile:
            raise ValidationError(
                coded("ONE_FORM", "Give either consumerCode or mobileNumber, not both."),
                "consumerCode",
            )
        if by_consumer and data.get("business_service") is None:
            raise ValidationError(
                coded("REQUIRED_WITH", "businessService is required with consumerCode."),
                "businessService",
            )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> BillsQuery:
        return BillsQuery(**data)


class PaymentLookupSchema(StrictSchema):
    """GET /v1/payments?idempotencyKey="""

    idempotencyKey = fields.String(
        required=True,
        attribute="idempotency_key",
        validate=_pattern(KEY_PATTERN, "IDEMPOTENCY_KEY_INVALID", "1-64 of A-Z a-z 0-9 . _ : -"),
    )


@dataclass(frozen=True, kw_only=True)
class ReceiptQuery:
    tenant_id: str
    business_service: str
    receipt_number: str


class ReceiptQuerySchema(StrictSchema):
    """GET /v1/receipts (receipt numbers contain `/`, hence a query parameter)."""

    receiptNumber = _identifier_field(
        "receiptNumber",
        128,
        required=True,
        attribute="receipt_number",
        metadata={"example": "04/2024-25/000123"},
    )
    tenantId = _tenant_field(required=True, attribute="tenant_id")
    businessService = _business_service_field(required=True, attribute="business_service")

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> ReceiptQuery:
        return ReceiptQuery(**data)


# --- responses -------------------------------------------------------------------------------


def mask_mobile(number: str | None) -> str | None:
    """All but the last 4 digits hidden: 9876543210 -> ******3210."""
    if not number:
        return None
    return "*" * max(0, len(number) - 4) + number[-4:]


class TaxHeadAmountSchema(Schema):
    taxHeadCode = fields.String(required=True)
    amount = _money(required=True)


class PendingPaymentSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in PaymentStatus]))


class BillSchema(Schema):
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
    billDate = fields.DateTime(format="iso", allow_none=True)
    expiryDate = fields.DateTime(format="iso", allow_none=True)
    periodFrom = fields.DateTime(format="iso", allow_none=True)
    periodTo = fields.DateTime(format="iso", allow_none=True)
    totalAmount = _money(required=True)
    lines = fields.List(fields.Nested(TaxHeadAmountSchema), required=True)
    partPaymentAllowed = fields.Boolean(required=True)
    advanceAllowed = fields.Boolean(required=True)
    minimumPayable = _money(required=True)
    maximumPayable = _money(required=True)
    amountExactness = fields.String(
        required=True, validate=validate.OneOf([e.value for e in AmountExactness])
    )
    paymentModesNotAllowed = fields.List(fields.String(), required=True)
    pendingPayment = fields.Nested(PendingPaymentSchema, allow_none=True, required=True)

    @pre_dump
    def from_offer(self, offer: BillOffer, **kwargs: Any) -> dict[str, Any]:
        return bill_view(offer)


def bill_view(offer: BillOffer) -> dict[str, Any]:
    """One bill of GET /v1/bills as BillSchema dumps it, ready for integrator.jsonutil.

    The bills answer is the busiest response the integrator writes, and marshmallow's field by
    field dump of it cost ~100 us per bill, more than building this dict. `list_bills` sends
    this dict (jsonutil writes datetimes as isoformat, which is what DateTime(format="iso")
    dumps); BillSchema still describes it in the OpenAPI document and dumps through it, and a
    test holds the two to the same JSON for every shape of offer.
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
        "billDate": bill.bill_date,
        "expiryDate": bill.expires_at,
        "periodFrom": bill.period_from,
        "periodTo": bill.period_to,
        "totalAmount": bill.total_amount,
        "lines": [{"taxHeadCode": k, "amount": v} for k, v in bill.lines().items()],
        "partPaymentAllowed": pay.part_payment_allowed,
        "advanceAllowed": pay.advance_allowed,
        "minimumPayable": pay.minimum_payable,
        "maximumPayable": pay.maximum_payable,
        "amountExactness": str(pay.exactness),
        "paymentModesNotAllowed": sorted(pay.payment_modes_not_allowed),
        "pendingPayment": (
            None
            if offer.pending_payment is None
            else {"id": offer.pending_payment.id, "status": offer.pending_payment.status}
        ),
    }


class BillsResponseSchema(Schema):
    bills = fields.List(fields.Nested(BillSchema), required=True)


class PaymentBillSchema(Schema):
    billId = fields.String(required=True, attribute="bill_id")
    billNumber = fields.String(required=True, attribute="bill_number")
    consumerCode = fields.String(required=True, attribute="consumer_code")
    businessService = fields.String(required=True, attribute="business_service")
    amount = _money(required=True)
    receiptNumber = fields.String(allow_none=True, attribute="receipt_number")
    receiptDate = fields.DateTime(format="iso", allow_none=True, attribute="receipt_date")


class PaymentReceiptSchema(Schema):
    billId = fields.String(required=True, attribute="bill_id")
    consumerCode = fields.String(required=True, attribute="consumer_code")
    businessService = fields.String(required=True, attribute="business_service")
    amount = _money(required=True)
    receiptNumber = fields.String(required=True, attribute="receipt_number")
    receiptDate = fields.DateTime(format="iso", allow_none=True, attribute="receipt_date")


class PaymentSchema(Schema):
    """A payment as its device sees it. `receipts` is filled once it is REGISTERED."""

    id = fields.String(required=True)
    idempotencyKey = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in PaymentStatus]))
    provisional = fields.Boolean(
        required=True,
        metadata={"description": "Accepted on a bill snapshot while DIGIT was unreachable."},
    )
    tenantId = fields.String(required=True)
    paymentMode = fields.String(required=True)
    totalAmount = _money(required=True)
    collectedAt = fields.DateTime(format="iso", allow_none=True)
    bills = fields.List(fields.Nested(PaymentBillSchema), required=True)
    receipts = fields.List(fields.Nested(PaymentReceiptSchema), required=True)
    createdAt = fields.DateTime(format="iso", required=True)
    registeredAt = fields.DateTime(format="iso", allow_none=True)
    attempts = fields.Integer(required=True)
    lastError = fields.String(allow_none=True)

    @pre_dump
    def from_payment(self, payment: Payment, **kwargs: Any) -> dict[str, Any]:
        registered = payment.status == PaymentStatus.REGISTERED
        return {
            "id": payment.id,
            "idempotencyKey": payment.idempotency_key,
            "status": str(payment.status),
            "provisional": payment.provisional,
            "tenantId": payment.tenant_id,
            "paymentMode": payment.payment_mode,
            "totalAmount": payment.total_amount,
            "collectedAt": payment.collected_at,
            "bills": payment.bills,
            "receipts": [b for b in payment.bills if registered and b.receipt_number],
            "createdAt": payment.created_at,
            "registeredAt": payment.registered_at,
            "attempts": payment.attempts,
            "lastError": payment.last_error,
        }


class ValidatedBillSchema(Schema):
    """One bill of a validated payment: the amount asked for and what may be paid."""

    billId = fields.String(required=True)
    amount = _money(required=True)
    billNumber = fields.String(required=True)
    consumerCode = fields.String(required=True)
    businessService = fields.String(required=True)
    totalAmount = _money(required=True)
    minimumPayable = _money(required=True)
    maximumPayable = _money(required=True)
    amountExactness = fields.String(
        required=True, validate=validate.OneOf([e.value for e in AmountExactness])
    )
    pendingPayment = fields.Nested(PendingPaymentSchema, allow_none=True, required=True)


class ValidationResponseSchema(Schema):
    valid = fields.Boolean(required=True)
    tenantId = fields.String(required=True)
    totalAmount = _money(required=True)
    bills = fields.List(fields.Nested(ValidatedBillSchema), required=True)


def validation_view(request: PaymentRequest, offers: list[BillOffer]) -> dict[str, Any]:
    """What /v1/payments/validate answers: per bill, the asked amount beside what may be paid."""
    by_id = {offer.bill.id: offer for offer in offers}
    bills = []
    for line in request.bills:
        offer = by_id.get(line.bill_id)
        if offer is None:
            continue
        bill, pay = offer.bill, offer.payability
        pending = offer.pending_payment
        bills.append(
            {
                "billId": line.bill_id,
                "amount": line.amount,
                "billNumber": bill.bill_number,
                "consumerCode": bill.consumer_code,
                "businessService": bill.business_service,
                "totalAmount": bill.total_amount,
                "minimumPayable": pay.minimum_payable,
                "maximumPayable": pay.maximum_payable,
                "amountExactness": str(pay.exactness),
                "pendingPayment": None
                if pending is None
                else {"id": pending.id, "status": pending.status},
            }
        )
    return {
        "valid": True,
        "tenantId": request.tenant_id,
        "totalAmount": request.total_amount,
        "bills": bills,
    }


class TaxHeadLineSchema(Schema):
    taxHeadCode = fields.String(required=True, attribute="tax_head_code")
    amount = _money(required=True)


class ReceiptSchema(Schema):
    receiptNumber = fields.String(required=True, attribute="receipt_number")
    receiptDate = fields.DateTime(format="iso", allow_none=True, attribute="receipt_date")
    tenantId = fields.String(required=True, attribute="tenant_id")
    businessService = fields.String(required=True, attribute="business_service")
    consumerCode = fields.String(allow_none=True, attribute="consumer_code")
    billId = fields.String(required=True, attribute="bill_id")
    billNumber = fields.String(allow_none=True, attribute="bill_number")
    payerName = fields.String(allow_none=True, attribute="payer_name")
    paidBy = fields.String(allow_none=True, attribute="paid_by")
    paymentMode = fields.String(required=True, attribute="payment_mode")
    amountPaid = _money(required=True, attribute="amount_paid")
    totalDue = _money(allow_none=True, attribute="total_due")
    lines = fields.List(fields.Nested(TaxHeadLineSchema), required=True)


class FieldErrorSchema(Schema):
    field = fields.String(
        allow_none=True, metadata={"description": "Path in the request, e.g. bills/0/amount."}
    )
    code = fields.String(required=True)
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable `code` and per-field `errors`."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True)
