"""Request schemas of the PoS API: what the views load, and what /openapi.json shows of requests.

    PaymentRequestSchema   POST /v1/payments and /v1/payments/validate -> PaymentRequest
    BillsQuerySchema       GET /v1/bills                              -> BillsQuery
    PaymentLookupSchema    GET /v1/payments?idempotencyKey=
    ReceiptQuerySchema     GET /v1/receipts                           -> ReceiptQuery

They refuse unknown fields (StrictSchema) and return the port's values. The field rules they are
built of live in `fields`; what each payment mode requires is the domain's rule, checked by the
use cases and published from `integrator.api.modes`. `BILLS_QUERY_FORMS` states the one-form rule
of GET /v1/bills for /openapi.json (OpenAPI 3.0 parameters cannot say it themselves).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates, validates_schema

from integrator.api.modes import (
    INSTRUMENT_DATE,
    INSTRUMENT_NUMBER,
    MODE_RULES,
    TRANSACTION_NUMBER,
    required_by,
)
from integrator.api.schemas.fields import (
    CITY_TENANT_PATTERN,
    EARLIEST_DATETIME_TEXT,
    KEY_PATTERN,
    MAX_BILLS,
    TENANT_PATTERN,
    BoundedDay,
    Money,
    OffsetDateTime,
    PlainText,
    StrictSchema,
    business_service_field,
    coded,
    identifier_field,
    mobile_field,
    name_field,
    pattern_rule,
    reference_field,
    tenant_field,
)
from integrator.payments.cancellation import REASON_MAX
from integrator.payments.models import PaymentMode
from integrator.payments.use_cases import BillLine, PaymentRequest

# --- requests --------------------------------------------------------------------------------


class BillLineSchema(StrictSchema):
    billId = identifier_field("billId", required=True, attribute="bill_id")
    amount = Money(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> BillLine:
        return BillLine(**data)


class PaymentRequestSchema(StrictSchema):
    """POST /v1/payments and /v1/payments/validate."""

    tenantId = tenant_field(city=True, required=True, attribute="tenant_id")
    paymentMode = fields.String(
        required=True,
        attribute="payment_mode",
        validate=validate.OneOf(
            [m.value for m in PaymentMode],
            error=coded("INVALID_PAYMENT_MODE", "Not a payment mode DIGIT knows."),
        ),
        metadata={
            "description": "What each mode requires: "
            + " ".join(rule.description for rule in MODE_RULES.values()),
            "example": "CASH",
        },
    )
    paidBy = name_field(required=True, attribute="paid_by")
    payerName = name_field(attribute="payer_name")
    mobileNumber = mobile_field(attribute="mobile_number")
    instrumentNumber = reference_field(
        "instrumentNumber",
        attribute="instrument_number",
        metadata={"description": required_by(INSTRUMENT_NUMBER), "example": "000123"},
    )
    instrumentDate = BoundedDay(
        attribute="instrument_date",
        metadata={"description": required_by(INSTRUMENT_DATE), "example": "2024-04-01"},
    )
    transactionNumber = reference_field(
        "transactionNumber",
        attribute="transaction_number",
        metadata={"description": required_by(TRANSACTION_NUMBER), "example": "TXN-88213"},
    )
    collectedAt = OffsetDateTime(
        attribute="collected_at",
        metadata={
            "description": "When the device took the money (ISO 8601 with offset); "
            f"{EARLIEST_DATETIME_TEXT} or later (INVALID_DATETIME) and at most 5 minutes ahead "
            "of the integrator's clock (COLLECTED_AT_IN_FUTURE).",
            "example": "2024-05-01T15:30:00+05:30",
        },
    )
    bills = fields.List(
        fields.Nested(BillLineSchema),
        required=True,
        validate=validate.Length(
            min=1,
            max=MAX_BILLS,
            error=coded("INVALID_BILL_COUNT", f"Between 1 and {MAX_BILLS} bills."),
        ),
        metadata={
            "description": "1-20 bills of the tenant, each billId once (DUPLICATE_BILL_ID).",
            "uniqueItems": True,
            "x-unique-by": "billId",
        },
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
    tenantId = tenant_field(required=True, attribute="tenant_id")
    businessService = business_service_field(attribute="business_service")
    consumerCode = identifier_field("consumerCode", 128, attribute="consumer_code")
    mobileNumber = mobile_field(
        attribute="mobile_number",
        metadata={
            "description": "The payer's mobile number, instead of consumerCode. DIGIT finds "
            "the bills whose payer has this number; a consumer it has never billed is found "
            "only when that payer has no other active bill of the service (DIGIT's own gap): "
            "when a consumer is missing, look it up by consumerCode, which always finds it.",
            "example": "9876543210",
        },
    )

    @validates_schema
    def one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        by_consumer = data.get("consumer_code") is not None
        by_mobile = data.get("mobile_number") is not None
        if not by_consumer and not by_mobile:
            raise ValidationError(
                coded("ONE_FORM", "Give consumerCode (with businessService) or mobileNumber."),
                "consumerCode",
            )
        if by_consumer and by_mobile:
            raise ValidationError(
                coded("ONE_FORM", "Give consumerCode or mobileNumber, not both."), "consumerCode"
            )
        if by_consumer and data.get("business_service") is None:
            raise ValidationError(
                coded("REQUIRED_WITH", "businessService is required with consumerCode."),
                "businessService",
            )
        tenant = data.get("tenant_id")
        if by_consumer and tenant is not None and re.fullmatch(CITY_TENANT_PATTERN, tenant) is None:
            raise ValidationError(
                coded(
                    "CITY_TENANT_REQUIRED",
                    "A consumer's bills are looked up in its city (e.g. pb.amritsar); a state "
                    "tenant goes with mobileNumber only.",
                ),
                "tenantId",
            )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> BillsQuery:
        return BillsQuery(**data)


class PaymentLookupSchema(StrictSchema):
    """GET /v1/payments?idempotencyKey="""

    idempotencyKey = fields.String(
        required=True,
        attribute="idempotency_key",
        validate=pattern_rule(
            KEY_PATTERN, "IDEMPOTENCY_KEY_INVALID", "1-64 of A-Z a-z 0-9 . _ : -"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class ReceiptQuery:
    tenant_id: str
    business_service: str
    receipt_number: str
    consumer_code: str | None = None


class ReceiptQuerySchema(StrictSchema):
    """GET /v1/receipts (receipt numbers contain `/`, hence a query parameter)."""

    receiptNumber = identifier_field(
        "receiptNumber",
        128,
        required=True,
        attribute="receipt_number",
        metadata={"example": "04/2024-25/000123"},
    )
    tenantId = tenant_field(city=True, required=True, attribute="tenant_id")
    businessService = business_service_field(required=True, attribute="business_service")
    consumerCode = identifier_field(
        "consumerCode",
        128,
        attribute="consumer_code",
        metadata={
            "description": "The consumer the receipt was issued for. Required for a receipt of "
            "a payment this device did not collect (CONSUMER_CODE_REQUIRED); such a receipt is "
            "answered without the payer's mobile number."
        },
    )

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> ReceiptQuery:
        return ReceiptQuery(**data)


#: The forms GET /v1/bills takes (`one_form` above): (required, optional) parameters besides
#: tenantId, and the tenant ids each takes (a consumer is looked up in its city, a mobile number
#: across a state or in a city). Published as the operation's `x-query-forms`.
BILLS_QUERY_FORMS: tuple[dict[str, Any], ...] = (
    {
        "required": ["businessService", "consumerCode"],
        "optional": [],
        "tenantIdPattern": CITY_TENANT_PATTERN,
    },
    {
        "required": ["mobileNumber"],
        "optional": ["businessService"],
        "tenantIdPattern": TENANT_PATTERN,
    },
)

#: How far ahead of our clock a device's collectedAt may be (device clocks drift); later is refused.
COLLECTED_AT_SKEW = timedelta(minutes=5)


def check_collected_at(request: PaymentRequest, *, now: datetime) -> None:
    """COLLECTED_AT_IN_FUTURE (422 on collectedAt) when the money was taken after `now` + skew."""
    if request.collected_at is not None and request.collected_at > now + COLLECTED_AT_SKEW:
        minutes = int(COLLECTED_AT_SKEW.total_seconds() // 60)
        raise ValidationError(
            {
                "collectedAt": [
                    coded(
                        "COLLECTED_AT_IN_FUTURE",
                        f"collectedAt is more than {minutes} minutes in the future; check the "
                        "device's clock.",
                    )
                ]
            }
        )


class ReasonLength(validate.Length):
    """A cancellation reason's length as the domain counts it (`cancellation._checked_reason`):
    1 to REASON_MAX characters once blanks at its ends are cut, so "", "   " and 501 characters
    are all one rule, CANCELLATION_REASON_REQUIRED (published as minLength/maxLength)."""

    def __init__(self) -> None:
        super().__init__(
            min=1,
            max=REASON_MAX,
            error=coded(
                "CANCELLATION_REASON_REQUIRED",
                f"Say why in 1 to {REASON_MAX} characters other than blanks.",
            ),
        )

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            super().__call__(value.strip())
        return value


class CancellationRequestSchema(StrictSchema):
    """POST /v1/payments/{id}/cancellation: why the collector asks to cancel the payment."""

    reason = fields.String(
        required=True,
        validate=[ReasonLength(), PlainText()],
        metadata={
            "description": "Why the payment should be cancelled (shown to the approving operator"
            f" and sent to DIGIT): 1 to {REASON_MAX} characters other than blanks "
            "(CANCELLATION_REASON_REQUIRED), without control characters other than tab and line "
            "breaks (INVALID_TEXT).",
            "example": "Collected against the wrong consumer",
        },
    )
