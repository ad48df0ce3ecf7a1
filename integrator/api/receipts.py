"""GET /v1/payments/{payment_id}/receipt: a payment's receipt as JSON, a thermal slip or a PDF.

    init_receipts(app, receipts=...)    called once by create_app

One answer holds everything a receipt shows, for every bill of the payment; the Accept header
picks the rendering of the same data:

    application/json (default)   the receipt's data (ReceiptDocumentSchema)
    text/plain                   the slip for 58 mm paper (32 columns), `?width=48` for 80 mm
    application/pdf              an A6 page, `?size=A4` for A4

Every answer is one print, counted in the ledger: each after the first says DUPLICATE
(`printNumber`, `duplicate`, and the `X-Receipt-Print` header). The route lives on its own
blueprint, registered under /v1 with the device-key check as the PoS blueprint is, and documents
itself in /openapi.json through `openapi.add_paths`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import Schema, fields, validate

from integrator.api import examples
from integrator.api.access import current_device
from integrator.api.context import wire as current_wire
from integrator.api.errors import ApiError
from integrator.api.guards import reads_query
from integrator.api.openapi import JSON, add_paths
from integrator.api.pos import load_args
from integrator.api.schemas.fields import StrictSchema, coded
from integrator.api.schemas.responses import Amount, Timestamp
from integrator.api.wire import Wire
from integrator.masking import mask_mobile
from integrator.payments.receipt_service import PrintedReceipt, ReceiptService
from integrator.receipts import (
    ReceiptStatus,
    amount_in_words,
    indian_grouping,
    render_pdf,
    render_text,
)
from integrator.receipts.layout import printable
from integrator.receipts.money import grouping_with_paise

receipts_bp = Blueprint("receipts", __name__)

EXTENSION_KEY = "integrator.api.receipts"
TEXT = "text/plain"
PDF = "application/pdf"
PRINT_HEADER = "X-Receipt-Print"
#: What the Accept header may ask for, the default first (`*/*` and no Accept get JSON).
OFFERED = (JSON, TEXT, PDF)
_RENDERING = {JSON: "json", TEXT: "text", PDF: "pdf"}


@dataclass(frozen=True, kw_only=True)
class ReceiptsConfig:
    receipts: Callable[[], ReceiptService]


def init_receipts(app: Flask, *, receipts: Callable[[], ReceiptService]) -> None:
    """Serve GET /v1/payments/{id}/receipt for devices (device key, rate limit), documented."""
    from integrator.api import device_policy

    if EXTENSION_KEY in app.extensions:  # already wired (idempotent)
        return
    app.extensions[EXTENSION_KEY] = ReceiptsConfig(receipts=receipts)
    app.register_blueprint(receipts_bp, url_prefix="/v1")
    device_policy(app, receipts_bp)
    add_paths(app, document_paths)


def _service() -> ReceiptService:
    config = current_app.extensions[EXTENSION_KEY]
    assert isinstance(config, ReceiptsConfig)
    return config.receipts()


# --- schemas ---------------------------------------------------------------------------------

_LAYOUT_MESSAGE = coded("INVALID_RECEIPT_LAYOUT", "width 32 or 48; size A6 or A4.")


class ReceiptLayoutQuerySchema(StrictSchema):
    """GET /v1/payments/{id}/receipt[?width=32|48][&size=A6|A4]"""

    width = fields.Integer(
        load_default=32,
        strict=False,
        error_messages={"invalid": _LAYOUT_MESSAGE, "too_large": _LAYOUT_MESSAGE},
        validate=validate.OneOf([32, 48], error=_LAYOUT_MESSAGE),
        metadata={"description": "text/plain: columns of the paper, 32 (58 mm) or 48 (80 mm)."},
    )
    size = fields.String(
        load_default="A6",
        validate=validate.OneOf(["A6", "A4"], error=_LAYOUT_MESSAGE),
        metadata={"description": "application/pdf: the page, A6 or A4."},
    )


LAYOUT_QUERY = ReceiptLayoutQuerySchema()


class ReceiptTaxHeadSchema(Schema):
    taxHeadCode = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "What the receipt prints."})
    periodFrom = fields.Date(required=True)
    periodTo = fields.Date(required=True)
    amount = Amount(
        required=True,
        metadata={"description": "May carry paise and be negative (rebates, round-off)."},
    )
    amountText = fields.String(required=True, metadata={"example": "1,146.50"})


class ReceiptBillSchema(Schema):
    receiptNumber = fields.String(required=True)
    businessService = fields.String(required=True)
    serviceName = fields.String(required=True)
    consumerCode = fields.String(required=True)
    consumerName = fields.String(required=True)
    billNumber = fields.String(required=True)
    periodFrom = fields.Date(required=True)
    periodTo = fields.Date(required=True)
    taxHeads = fields.List(
        fields.Nested(ReceiptTaxHeadSchema),
        required=True,
        metadata={"description": "Each tax head of each period, in DIGIT's order; zeros left out."},
    )
    billAmount = Amount(required=True)
    billAmountText = fields.String(required=True, metadata={"example": "1,23,456"})
    amountPaid = Amount(required=True)
    amountPaidText = fields.String(required=True)
    balanceLeft = Amount(required=True)
    balanceLeftText = fields.String(required=True)
    advance = Amount(required=True, metadata={"description": "Paid beyond the bill."})


class ReceiptDocumentSchema(Schema):
    """Everything a receipt of one payment shows, for every bill of it."""

    paymentId = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in ReceiptStatus]),
        metadata={"description": "CANCELLED or DISHONOURED: the receipt is void."},
    )
    printNumber = fields.Integer(required=True, metadata={"description": "1 for the first."})
    duplicate = fields.Boolean(required=True, metadata={"description": "Print DUPLICATE."})
    tenantId = fields.String(required=True)
    cityName = fields.String(required=True)
    receiptNumbers = fields.List(fields.String(), required=True)
    receiptDate = Timestamp(required=True)
    paymentMode = fields.String(required=True)
    instrumentNumber = fields.String(allow_none=True, required=True)
    instrumentDate = fields.Date(allow_none=True, required=True)
    transactionNumber = fields.String(allow_none=True, required=True)
    collector = fields.String(required=True, metadata={"description": "The device's name."})
    mobileNumber = fields.String(
        allow_none=True, required=True, metadata={"description": "Masked: last 4 digits."}
    )
    bills = fields.List(fields.Nested(ReceiptBillSchema), required=True)
    totalPaid = Amount(required=True)
    totalPaidText = fields.String(required=True, metadata={"example": "1,23,456"})
    amountInWords = fields.String(
        required=True,
        metadata={"example": "Rupees One Lakh Twenty Three Thousand Four Hundred Fifty Six Only"},
    )
    balanceLeft = Amount(required=True)
    balanceLeftText = fields.String(required=True)
    qrPayload = fields.String(
        required=True,
        metadata={"description": "What the QR code holds: the receipt numbers, comma-separated."},
    )


def receipt_document_view(printed: PrintedReceipt, wire: Wire) -> dict[str, Any]:
    """A print of a payment's receipt as ReceiptDocumentSchema describes it."""
    doc = printed.document
    return {
        "paymentId": printed.payment_id,
        "status": doc.status.value,
        "printNumber": printed.print_number,
        "duplicate": doc.duplicate,
        "tenantId": doc.tenant_id,
        "cityName": doc.city_name,
        "receiptNumbers": list(doc.receipt_numbers),
        "receiptDate": wire.timestamp(doc.receipt_date),
        "paymentMode": doc.payment_mode,
        "instrumentNumber": doc.instrument_number,
        "instrumentDate": wire.day(doc.instrument_date),
        "transactionNumber": doc.transaction_number,
        "collector": doc.collector,
        "mobileNumber": mask_mobile(printed.mobile_number),
        "bills": [
            {
                "receiptNumber": bill.receipt_number,
                "businessService": bill.business_service,
                "serviceName": bill.service_name,
                "consumerCode": bill.consumer_code,
                "consumerName": bill.consumer_name,
                "billNumber": bill.bill_number,
                "periodFrom": wire.day(bill.period_from),
                "periodTo": wire.day(bill.period_to),
                "taxHeads": [
                    {
                        "taxHeadCode": line.tax_head_code,
                        "name": printable(line.label),
                        "periodFrom": wire.day(line.period_from),
                        "periodTo": wire.day(line.period_to),
                        "amount": wire.amount(line.amount),
                        "amountText": _grouped_head(line.amount),
                    }
                    for line in bill.tax_lines
                ],
                "billAmount": wire.amount(bill.total_due),
                "billAmountText": indian_grouping(bill.total_due),
                "amountPaid": wire.amount(bill.amount_paid),
                "amountPaidText": indian_grouping(bill.amount_paid),
                "balanceLeft": wire.amount(bill.balance),
                "balanceLeftText": indian_grouping(bill.balance),
                "advance": wire.amount(bill.advance),
            }
            for bill in doc.bills
        ],
        "totalPaid": wire.amount(doc.total_paid),
        "totalPaidText": indian_grouping(doc.total_paid),
        "amountInWords": amount_in_words(doc.total_paid),
        "balanceLeft": wire.amount(doc.total_balance),
        "balanceLeftText": indian_grouping(doc.total_balance),
        "qrPayload": doc.qr_payload,
    }


def _grouped_head(amount: Decimal) -> str:
    if amount == amount.to_integral_value():
        return indian_grouping(amount)
    return grouping_with_paise(amount)


# --- the view --------------------------------------------------------------------------------


def _accepted() -> str:
    """The rendering the Accept header asks for: JSON when absent or `*/*`; 406 when it names
    none of JSON, text and PDF."""
    if not request.accept_mimetypes:
        return JSON
    best = request.accept_mimetypes.best_match(OFFERED)
    if best is None:
        raise ApiError(
            "A receipt is answered as application/json, text/plain or application/pdf.",
            status=406,
            code="NOT_ACCEPTABLE",
        )
    return best


@receipts_bp.get("/payments/<payment_id>/receipt")
@reads_query
def get_payment_receipt(payment_id: str) -> Response:
    if request.method == "HEAD":
        # every answer is a counted print: a HEAD would count one that nobody received
        raise ApiError(
            "A receipt is printed with GET.",
            status=405,
            code="METHOD_NOT_ALLOWED",
            headers={"Allow": "GET"},
        )
    layout = load_args(LAYOUT_QUERY)
    rendering = _accepted()
    printed = _service().print_receipt(
        device=current_device(), payment_id=payment_id, rendering=_RENDERING[rendering]
    )
    if rendering == TEXT:
        body: Any = render_text(printed.document, width=layout["width"])
        response = current_app.response_class(body, mimetype=TEXT)
    elif rendering == PDF:
        body = render_pdf(printed.document, page=layout["size"])
        response = current_app.response_class(body, mimetype=PDF)
        name = f"receipt-{printed.payment_id}-{printed.print_number}.pdf"
        response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    else:
        response = cast(
            Response, current_app.json.response(receipt_document_view(printed, current_wire()))
        )
    response.headers[PRINT_HEADER] = str(printed.print_number)
    # a receipt names a payer, and every GET is a print of its own
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    return response


# --- /openapi.json ---------------------------------------------------------------------------


def document_paths(spec: APISpec) -> None:
    spec.components.schema("ReceiptDocument", schema=ReceiptDocumentSchema)
    spec.path(
        path="/v1/payments/{payment_id}/receipt",
        operations={
            "get": {
                "operationId": "printPaymentReceipt",
                "summary": "Print the receipt of one of this device's payments",
                "description": (
                    "Everything the receipt shows, for every bill of the payment: the city, "
                    "each bill's consumer, bill number, period and tax heads (DIGIT's order), "
                    "amount paid and balance left, how it was paid, receipt numbers and date, "
                    "the collecting device, the amount in words (Indian system) and figures "
                    "grouped the Indian way. The Accept header picks the rendering: "
                    "`application/json` (default), `text/plain` (a thermal slip, 32 columns "
                    "for 58 mm paper or `width=48` for 80 mm) or `application/pdf` (A6, or "
                    "`size=A4`). Every answer is a print, counted in the ledger: each after "
                    "the first is marked DUPLICATE (`printNumber`, `X-Receipt-Print`). Only a "
                    "payment DIGIT holds receipts for can be printed (RECEIPT_NOT_READY "
                    "otherwise); a CANCELLED or DISHONOURED one prints marked void."
                ),
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": examples.PAYMENT_ANSWER["id"],
                    },
                    {"in": "query", "schema": ReceiptLayoutQuerySchema},
                    "RequestId",
                ],
                "responses": {
                    "200": {
                        "description": "One print of the receipt",
                        "headers": {
                            "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
                            PRINT_HEADER: {
                                "description": "This print's number (1 for the first).",
                                "schema": {"type": "integer"},
                            },
                        },
                        "content": {
                            JSON: {
                                "schema": "ReceiptDocument",
                                "example": examples.RECEIPT_DOCUMENT_ANSWER,
                            },
                            TEXT: {
                                "schema": {"type": "string"},
                                "example": examples.RECEIPT_SLIP_ANSWER,
                            },
                            PDF: {
                                "schema": {"type": "string", "format": "binary"},
                                "example": "(the PDF's bytes: one A6 or A4 page per receipt)",
                            },
                        },
                    },
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "406": {
                        "description": "The Accept header names no rendering offered.",
                        "content": {"application/problem+json": {"schema": "Problem"}},
                    },
                    "409": {"$ref": "#/components/responses/Conflict"},
                    "422": {"$ref": "#/components/responses/Unprocessable"},
                    "429": {"$ref": "#/components/responses/RateLimited"},
                    "500": {"$ref": "#/components/responses/InternalError"},
                    "503": {"$ref": "#/components/responses/Unavailable"},
                },
            }
        },
    )
