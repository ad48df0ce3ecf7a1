"""The PoS API (/v1): thin views. Each loads with a schema, calls one use case, dumps with a schema.

Authentication (`access.require_device`) is attached where the blueprint is registered
(`integrator.api.init_api`); errors are mapped in `integrator.api.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from flask import Blueprint, Response, current_app, g, request, url_for
from marshmallow import Schema
from werkzeug.datastructures import MultiDict

from integrator import jsonutil
from integrator.api.access import current_device, reads_open_marks
from integrator.api.context import api_dependencies, cancellations, payments, wire
from integrator.api.errors import ApiError, FieldError
from integrator.api.guards import reads_query
from integrator.api.json import non_numbers
from integrator.api.schemas.fields import KEY_CHARS
from integrator.api.schemas.requests import (
    BillsQuery,
    BillsQuerySchema,
    CancellationRequestSchema,
    PaymentLookupSchema,
    PaymentRequestSchema,
    ReceiptQuerySchema,
    check_collected_at,
)
from integrator.api.schemas.responses import (
    bill_view,
    cancellation_view,
    dues_reopening_view,
    payment_view,
    receipt_view,
    validation_view,
)
from integrator.payments.devices import Device
from integrator.payments.models import ConsumerKey, PaymentStatus
from integrator.payments.ports import OpenMarks
from integrator.payments.use_cases import AcceptOutcome, BillOffer, PaymentRequest

pos_bp = Blueprint("pos", __name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(KEY_CHARS)

# Request schemas are built once: they are reusable and building one costs CPU per request.
# Answers are the `*_view` dicts of schemas.responses, written through the app's `wire()`.
BILLS_QUERY = BillsQuerySchema()
PAYMENT_REQUEST = PaymentRequestSchema()
PAYMENT_LOOKUP = PaymentLookupSchema()
RECEIPT_QUERY = ReceiptQuerySchema()
CANCELLATION_REQUEST = CancellationRequestSchema()


# --- views -----------------------------------------------------------------------------------


def consumer_in_query(args: MultiDict[str, str]) -> ConsumerKey | None:
    """The consumer GET /v1/bills asks about by consumer number (read before the schema: a
    query the schema then refuses only wasted the marks read)."""
    tenant, service, code = (
        args.get("tenantId"),
        args.get("businessService"),
        args.get("consumerCode"),
    )
    if not (tenant and service and code) or "mobileNumber" in args:
        return None
    return ConsumerKey(tenant, service, code)


@pos_bp.get("/bills")
@reads_open_marks(consumer_in_query)
@reads_query
def list_bills() -> Any:
    query: BillsQuery = load_args(BILLS_QUERY)
    offers, unsearched = bills_for(query, current_device(for_tenant=query.tenant_id))
    answer = {
        "bills": [bill_view(offer, wire()) for offer in offers],
        "unsearchedTenants": list(unsearched),
        "duesReopening": dues_reopening(query, offers) if may_be_reopening(offers) else [],
    }
    # a bill is served once its snapshot is in Redis (they are written in batches, behind)
    api_dependencies().snapshots_written()
    return answer


@pos_bp.post("/payments")
def create_payment() -> Response:
    payment_request = load_payment()
    device = current_device(for_tenant=payment_request.tenant_id)
    key = idempotency_key()
    api_dependencies().cash_guard.require_room(device, payment_request, key)
    outcome = payments().accept_payment(device=device, idempotency_key=key, request=payment_request)
    return accepted(outcome)


@pos_bp.post("/payments/validate")
def validate_payment() -> Any:
    payment_request = load_payment()
    device = current_device(for_tenant=payment_request.tenant_id)
    # validate takes no Idempotency-Key: the cap judges the payment as a new one
    api_dependencies().cash_guard.require_room(device, payment_request, None)
    offers = payments().validate_payment(device=device, request=payment_request)
    return validation_view(payment_request, offers, wire())


@pos_bp.get("/payments/<payment_id>")
def get_payment(payment_id: str) -> Any:
    payment = payments().get_payment(device=current_device(), payment_id=payment_id)
    return payment_view(payment, wire())


@pos_bp.get("/payments")
@reads_query
def find_payment() -> Any:
    lookup = load_args(PAYMENT_LOOKUP)
    payment = payments().find_payment(
        device=current_device(), idempotency_key=lookup["idempotency_key"]
    )
    return payment_view(payment, wire())


@pos_bp.post("/payments/<payment_id>/cancellation")
def request_cancellation(payment_id: str) -> Any:
    body = load_json(CANCELLATION_REQUEST)
    made = cancellations().request_by_device(
        device_id=current_device().id, payment_id=payment_id, reason=body["reason"]
    )
    return cancellation_view(made, wire()), 202


@pos_bp.get("/receipts")
@reads_query
def get_receipt() -> Any:
    query = load_args(RECEIPT_QUERY)
    receipt = payments().receipt(
        device=current_device(for_tenant=query.tenant_id),
        tenant_id=query.tenant_id,
        business_service=query.business_service,
        receipt_number=query.receipt_number,
        consumer_code=query.consumer_code,
    )
    return receipt_view(receipt, wire())


# --- helpers ---------------------------------------------------------------------------------


def bills_for(query: BillsQuery, device: Device) -> tuple[list[BillOffer], tuple[str, ...]]:
    """Dispatch the two forms of GET /v1/bills (the schema guarantees exactly one): the offers,
    and the cities a state-wide mobile lookup could not search."""
    if query.mobile_number is not None:
        found = payments().bills_for_mobile(
            device=device,
            tenant_id=query.tenant_id,
            mobile_number=query.mobile_number,
            business_service=query.business_service,
        )
        return found.offers, found.unsearched_tenants
    assert query.business_service is not None and query.consumer_code is not None
    offers = payments().bills_for_consumer(
        device=device,
        tenant_id=query.tenant_id,
        business_service=query.business_service,
        consumer_code=query.consumer_code,
        open_marks=g.get("open_marks"),
    )
    return offers, ()


def may_be_reopening(offers: Sequence[BillOffer]) -> bool:
    """Whether to ask the ledger for the consumer's reversals whose dues are re-opening: always
    when DIGIT showed no bill; beside bills only when the consumer's marks, read with the
    admission, hold something (an open payment or such a reversal) or could not be read, so a
    plain answer with bills costs no ledger read."""
    marks: OpenMarks | None = g.get("open_marks")
    return not offers or marks is None or marks.count is None or marks.count > 0


def dues_reopening(query: BillsQuery, offers: Sequence[BillOffer]) -> list[dict[str, Any]]:
    """The consumer's reversals whose dues DIGIT is still re-opening (see may_be_reopening)."""
    factory = api_dependencies().cancellations
    if query.consumer_code is None or query.business_service is None or factory is None:
        return []
    found = factory().dues_reopening(
        tenant_id=query.tenant_id,
        business_service=query.business_service,
        consumer_code=query.consumer_code,
        shown_bill_ids=[offer.bill.id for offer in offers],
    )
    return [dues_reopening_view(request, wire()) for request in found]


def load_json(schema: Schema) -> Any:
    """The JSON body, parsed with Decimal numbers, loaded with `schema` (ValidationError: 422)."""
    if not request.is_json:
        raise ApiError(
            "The body must be JSON (Content-Type: application/json).",
            status=415,
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    try:
        body = current_app.json.loads(raw)
    except jsonutil.JSONNumberError as error:
        raise ApiError(
            f"The body is not usable JSON: {error}.",
            code="INVALID_NUMBER",
            errors=[
                FieldError(
                    field,
                    "INVALID_NUMBER",
                    f"{constant} is not a number: send a plain JSON number (of whole rupees "
                    "for an amount).",
                )
                for field, constant in non_numbers(raw)
            ],
        ) from None
    except ValueError:
        raise ApiError("The body is not valid JSON.", code="INVALID_JSON") from None
    except RecursionError:  # e.g. [[[[... a thousand deep: no request of ours nests beyond five
        raise ApiError(
            "The body is not usable JSON: nested too deeply.", code="INVALID_JSON"
        ) from None
    return schema.load(body)


def load_payment() -> PaymentRequest:
    """The body of POST /v1/payments and /validate: its schema, then collectedAt vs our clock."""
    payment_request: PaymentRequest = load_json(PAYMENT_REQUEST)
    check_collected_at(payment_request, now=api_dependencies().clock())
    return payment_request


def load_args(schema: Schema) -> Any:
    """The query string loaded with `schema`; a repeated parameter is refused as not a string."""
    args = {k: v[0] if len(v) == 1 else v for k, v in request.args.lists()}
    return schema.load(args)


def idempotency_key() -> str:
    """The Idempotency-Key header: 1-64 of [A-Za-z0-9._:-], bare or as a quoted sf-string."""
    raw = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw is None:
        message = "The Idempotency-Key header is required."
        raise ApiError(
            message,
            code="IDEMPOTENCY_KEY_MISSING",
            errors=[FieldError(IDEMPOTENCY_KEY_HEADER, "IDEMPOTENCY_KEY_MISSING", message)],
        )
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if _KEY.fullmatch(value) is None:
        message = "Idempotency-Key must be 1-64 of A-Z a-z 0-9 . _ : - (optionally in quotes)."
        raise ApiError(
            message,
            code="IDEMPOTENCY_KEY_INVALID",
            errors=[FieldError(IDEMPOTENCY_KEY_HEADER, "IDEMPOTENCY_KEY_INVALID", message)],
        )
    return value


def accepted(outcome: AcceptOutcome) -> Response:
    """200 + Idempotent-Replayed for a replay, 201 once registered, else 202; Location always."""
    payment = outcome.payment
    response = cast(Response, current_app.json.response(payment_view(payment, wire())))
    response.headers["Location"] = url_for("pos.get_payment", payment_id=payment.id)
    if outcome.replayed:
        response.status_code = 200
        response.headers[REPLAYED_HEADER] = "true"
    elif payment.status == PaymentStatus.REGISTERED:
        response.status_code = 201
    else:
        response.status_code = 202
    return response
