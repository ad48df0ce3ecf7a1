"""GET /openapi.json (built with apispec from the schemas the views use) and GET /docs (offline).

Every rule in the document comes from the code that enforces it: field rules from the request
schemas (`schemas.requests`, built of `schemas.fields`), what each payment mode requires from
`integrator.api.modes` (the domain's table; a `oneOf` per group of modes and
`x-payment-mode-rules`), the forms of GET /v1/bills from `BILLS_QUERY_FORMS` (`x-query-forms`),
and every error code from the catalogue (`integrator.api.problems`: `x-problem-codes`, the
`Problem.code` enum, and the codes listed in each error response). /docs renders the same
catalogue and mode table on the server, with an `id="problem-CODE"` anchor per code.

`build_spec()` describes every /v1 operation; a unit test checks it against app.url_map, so a
new route without documentation fails the build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, render_template

from integrator.api import examples
from integrator.api.modes import MODE_RULES, mode_groups
from integrator.api.problems import BATCH_ITEM_ONLY, CATALOGUE, codes_for_status
from integrator.api.schemas import requests as request_schemas
from integrator.api.schemas import responses as response_schemas
from integrator.api.schemas.fields import KEY_HEADER_PATTERN
from integrator.api.schemas.requests import COLLECTED_AT_SKEW

docs_bp = Blueprint("docs", __name__, template_folder="templates")

SPEC_EXTENSION_KEY = "integrator.api.openapi"
EXTRA_PATHS_KEY = "integrator.api.openapi.extra_paths"
PROBLEM = "application/problem+json"
JSON = "application/json"

_RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}
_REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}

DESCRIPTION = (
    "Fetch DIGIT bills and register payments from PoS devices.\n\n"
    "* Authenticate every /v1 call with `Authorization: Bearer <device key>`; a device acts only "
    "for the tenants it was registered for (a state such as `pb` covers its cities).\n"
    "* Amounts a device sends are plain JSON numbers of whole rupees (`815`), never strings, "
    "booleans or paise: DIGIT collects whole rupees. Answers write amounts as plain JSON numbers "
    "too: a payable bill's total and the amounts paid are whole rupees, but a tax head's line (on "
    "a bill or a receipt) is DIGIT's own figure and may carry paise (`30.30`, `-0.38`).\n"
    "* Every timestamp in an answer is ISO 8601 with the offset of DIGIT_TIMEZONE "
    "(Asia/Kolkata, `+05:30`, by default).\n"
    "* Every error is `application/problem+json` with a stable `code`, per-field `errors`, and "
    "a `type` linking to the code's entry in the error catalogue (/docs#problems, and "
    "`x-problem-codes` here)."
)


def _problem(description: str, statuses: tuple[int, ...], *, retry_after: bool) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-ID": _REQUEST_ID}
    if retry_after:
        headers["Retry-After"] = _RETRY_AFTER
    codes = [code for status in statuses for code in codes_for_status(status)]
    return {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "headers": headers,
        "content": {PROBLEM: {"schema": "Problem"}},
    }


def _ok(description: str, schema: Any, example: Any, **headers: Any) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": _REQUEST_ID, **headers},
        "content": {JSON: {"schema": schema, "example": example}},
    }


_COMMON_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "429": {"$ref": "#/components/responses/RateLimited"},
    "500": {"$ref": "#/components/responses/InternalError"},
}

#: name, statuses, description, Retry-After: the error responses operations refer to.
_ERROR_RESPONSES: tuple[tuple[str, tuple[int, ...], str, bool], ...] = (
    ("BadRequest", (400,), "Malformed JSON or header.", False),
    ("Unauthorized", (401,), "Missing, unknown or revoked device key.", False),
    ("TenantForbidden", (403,), "The device may not act for this tenant.", False),
    ("NotFound", (404,), "No such resource for this device.", False),
    ("Conflict", (409,), "Another request or payment is in the way (REQUEST_IN_FLIGHT with "
     "Retry-After).", True),
    ("PayloadTooLarge", (413,), "The body is larger than the configured limit.", False),
    ("UnsupportedMediaType", (415,), "The body is not application/json.", False),
    ("Unprocessable", (422,), "A field or a payment rule refused the request; `errors` names "
     "each field.", False),
    ("RateLimited", (429,), "Too many requests from this device.", True),
    ("DigitRejected", (502,), "DIGIT refused a read; `errors[].code` are DIGIT's codes.", False),
    ("Unavailable", (503,), "DIGIT or the store cannot be reached; nothing was recorded unless "
     "the code says so.", True),
    ("InternalError", (500,), "An unexpected error; no internals are disclosed.", False),
)  # fmt: skip
_NAMED = {str(statuses[0]): name for name, statuses, _, _ in _ERROR_RESPONSES}


def _errors(*extra: str) -> dict[str, Any]:
    table: dict[str, Any] = dict(_COMMON_ERRORS)
    for status in extra:
        table[status] = {"$ref": f"#/components/responses/{_NAMED[status]}"}
    return table


_PAYMENT_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": request_schemas.PaymentRequestSchema,
            "examples": examples.PAYMENT_REQUESTS,
        }
    },
}


def build_spec() -> APISpec:
    """The OpenAPI 3 document of the PoS API."""
    spec = APISpec(
        title="DIGIT bill-collection integrator: PoS API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        security=[{"deviceKey": []}],
        **{"x-problem-codes": problem_codes()},
    )
    _components(spec)
    _paths(spec)
    _payment_mode_rules(spec)
    return spec


def problem_codes() -> list[dict[str, Any]]:
    """The error catalogue as the document's `x-problem-codes`."""
    return [
        {
            "code": p.code,
            "statuses": list(p.statuses),
            "kind": str(p.kind),
            "meaning": p.meaning,
            "action": p.action,
            "type": p.type,
        }
        for p in CATALOGUE.values()
    ]


def _payment_mode_rules(spec: APISpec) -> None:
    """What each payment mode requires, in PaymentRequest itself: one `oneOf` branch per group of
    modes (so a generator or validator knows it), and `x-payment-mode-rules` per mode."""
    request = spec.components.schemas["PaymentRequest"]
    request["oneOf"] = [
        {
            "title": " / ".join(modes),
            "properties": {"paymentMode": {"enum": modes}},
            **({"required": list(required)} if required else {}),
        }
        for required, modes in mode_groups()
    ]
    request["x-payment-mode-rules"] = {
        rule.mode.value: {"required": list(rule.required), "instrumentDate": rule.date_rule}
        for rule in MODE_RULES.values()
    }
    request["description"] = (
        "A payment of 1-20 bills of one tenant. Besides the common required fields, each "
        "paymentMode requires its own (`oneOf` and `x-payment-mode-rules`): "
        + " ".join(rule.description for rule in MODE_RULES.values())
    )


def _components(spec: APISpec) -> None:
    spec.components.security_scheme(
        "deviceKey",
        {"type": "http", "scheme": "bearer", "description": "The device's API key."},
    )
    spec.components.schema(
        "Problem", schema=response_schemas.ProblemSchema, example=examples.PROBLEM_ANSWER
    )
    spec.components.schema("Payment", schema=response_schemas.PaymentSchema)
    headers: dict[str, tuple[str, dict[str, Any]]] = {
        "Retry-After": ("Seconds to wait before retrying.", {"type": "integer"}),
        "X-Request-ID": ("The request's id (echoed or generated).", {"type": "string"}),
        "Location": ("Where the payment can be read.", {"type": "string"}),
        "Idempotent-Replayed": (
            "`true` when the answer replays an earlier request with the same key.",
            {"type": "string", "enum": ["true"]},
        ),
    }
    for name, (description, schema) in headers.items():
        spec.components.header(name, {"description": description, "schema": schema})
    spec.components.parameter(
        "IdempotencyKey",
        "header",
        {
            "name": "Idempotency-Key",
            "required": True,
            "description": (
                "The device's own reference for this payment: 1-64 of A-Z a-z 0-9 . _ : -, bare "
                'or as a quoted string ("abc"). Send the same key again to get the same payment.'
            ),
            "schema": {"type": "string", "pattern": KEY_HEADER_PATTERN},
            "example": "counter7-000123",
        },
    )
    spec.components.parameter(
        "RequestId",
        "header",
        {"name": "X-Request-ID", "required": False, "schema": {"type": "string"}},
    )
    for name, statuses, description, retry_after in _ERROR_RESPONSES:
        spec.components.response(name, _problem(description, statuses, retry_after=retry_after))


def _paths(spec: APISpec) -> None:
    request_id = "RequestId"
    location = {"Location": {"$ref": "#/components/headers/Location"}}
    spec.path(
        path="/v1/bills",
        operations={
            "get": {
                "operationId": "listBills",
                "summary": "Bills due for a consumer, or for a payer's mobile number",
                "description": (
                    "Exactly one form (`x-query-forms`): `businessService` + `consumerCode`, or "
                    "`mobileNumber` (optionally with `businessService`); `tenantId` always: a "
                    "city for a consumer, a city or a whole state for a mobile number "
                    "(each form's `tenantIdPattern`). An "
                    "empty list when nothing is due. Each bill says what may be paid on it "
                    "(`minimumPayable`, `maximumPayable`, `amountExactness`, "
                    "`paymentModesNotAllowed`) and any payment of ours still in progress for it."
                ),
                "parameters": [
                    {"in": "query", "schema": request_schemas.BillsQuerySchema},
                    request_id,
                ],
                "x-query-forms": list(request_schemas.BILLS_QUERY_FORMS),
                "responses": {
                    "200": _ok(
                        "The bills", response_schemas.BillsResponseSchema, examples.BILLS_ANSWER
                    ),
                    **_errors("403", "422", "502", "503"),
                },
            }
        },
    )
    spec.path(
        path="/v1/payments",
        operations={
            "post": {
                "operationId": "createPayment",
                "summary": "Pay 1-20 bills of one tenant",
                "description": (
                    "Stores the payment durably, then registers it with DIGIT. 201 with receipts "
                    "when DIGIT registered it within the budget; 202 when registration goes on "
                    "in the background (poll `Location`); 200 with `Idempotent-Replayed: true` "
                    "for the same request and key again, never a second receipt. Amounts are "
                    "whole rupees; each payment mode requires its own fields (see "
                    "PaymentRequest). collectedAt may be at most "
                    f"{int(COLLECTED_AT_SKEW.total_seconds() // 60)} minutes ahead of the "
                    "integrator's clock."
                ),
                "parameters": ["IdempotencyKey", request_id],
                "requestBody": _PAYMENT_BODY,
                "responses": {
                    "200": _ok(
                        "A replay of an earlier request with the same key",
                        "Payment",
                        examples.PAYMENT_ANSWER,
                        **{
                            "Idempotent-Replayed": {
                                "$ref": "#/components/headers/Idempotent-Replayed"
                            },
                        },
                        **location,
                    ),
                    "201": _ok(
                        "Registered with DIGIT within the budget: receipts included",
                        "Payment",
                        examples.PAYMENT_ANSWER,
                        **location,
                    ),
                    "202": _ok(
                        "Accepted, registration continues (status PENDING); poll Location",
                        "Payment",
                        examples.PENDING_PAYMENT_ANSWER,
                        **location,
                    ),
                    **_errors("400", "403", "409", "413", "415", "422", "502", "503"),
                },
            },
            "get": {
                "operationId": "findPayment",
                "summary": "This device's payment made with an Idempotency-Key",
                "description": (
                    "Find a payment by the key the device sent, e.g. after losing the answer to "
                    "POST /v1/payments. Only the device that made it sees it, as GET "
                    "/v1/payments/{payment_id} shows it (the example: one an operator closed)."
                ),
                "parameters": [
                    {"in": "query", "schema": request_schemas.PaymentLookupSchema},
                    request_id,
                ],
                "responses": {
                    "200": _ok("The payment", "Payment", examples.RESOLVED_PAYMENT_ANSWER),
                    **_errors("404", "422"),
                },
            },
        },
    )
    spec.path(
        path="/v1/payments/validate",
        operations={
            "post": {
                "operationId": "validatePayment",
                "summary": "Every check of POST /v1/payments; nothing is stored",
                "description": (
                    "Runs the checks POST /v1/payments runs (fields, payment mode, amounts "
                    "against each bill, the device's cap on cash in hand: "
                    "CASH_IN_HAND_CAP_REACHED) and answers what may be paid per bill. Needs no "
                    "Idempotency-Key (the payment is judged as a new one); stores nothing."
                ),
                "parameters": [request_id],
                "requestBody": _PAYMENT_BODY,
                "responses": {
                    "200": _ok(
                        "What may be paid per bill",
                        response_schemas.ValidationResponseSchema,
                        examples.VALIDATION_ANSWER,
                    ),
                    **_errors("400", "403", "409", "413", "415", "422", "502", "503"),
                },
            }
        },
    )
    spec.path(
        path="/v1/payments/{payment_id}",
        operations={
            "get": {
                "operationId": "getPayment",
                "summary": "One of this device's payments",
                "description": (
                    "The payment's state: PENDING while registration goes on (`lastError` says "
                    "why the last attempt failed), REGISTERED with `receipts`, or "
                    "NEEDS_ATTENTION when an operator must act; RESOLVED once an operator closed "
                    "it (`resolution` says how and when: RECEIPTED_BY_HAND with DIGIT's receipt, "
                    "also in `receipts`, or REFUNDED, with no receipt); CANCELLED or DISHONOURED "
                    "once DIGIT reversed it (`reversal` says why and when); REFUSED when DIGIT "
                    "refused it while the device waited (the device was answered 422 and took "
                    "no money). A device with a webhook is told of these moves: "
                    "`payment.registered`, `payment.needs_attention`, `payment.resolved`, "
                    "`payment.cancelled`, `payment.dishonoured`."
                ),
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": examples.PAYMENT_ANSWER["id"],
                    },
                    request_id,
                ],
                "responses": {
                    "200": _ok("The payment", "Payment", examples.CANCELLED_PAYMENT_ANSWER),
                    **_errors("404", "422"),
                },
            }
        },
    )
    spec.path(
        path="/v1/payments/{payment_id}/cancellation",
        operations={
            "post": {
                "operationId": "requestCancellation",
                "summary": "Ask for one of this device's payments to be cancelled in DIGIT",
                "description": (
                    "Only a request: an operator other than the requester approves it, then the "
                    "integrator cancels the payment in DIGIT (payments/{module}/_workflow) and "
                    "GET /v1/payments/{id} shows status CANCELLED with `reversal`; a device with "
                    "a webhook is sent `payment.cancelled`. A device may ask within "
                    "CANCELLATION_WINDOW_MINUTES (30 by default) of collecting; later, an "
                    "operator. Refused at once when DIGIT would refuse: ONLINE/CARD payments, "
                    "not the consumer's newest payment (the newer receipt is named), an "
                    "instrument not APPROVED, a service our DIGIT account may not cancel (in "
                    "Punjab only property tax). After the cancellation DIGIT re-opens the dues as "
                    "a new bill (fetch again); the old bill is never payable again."
                ),
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "example": examples.PAYMENT_ANSWER["id"],
                    },
                    request_id,
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": request_schemas.CancellationRequestSchema,
                            "example": examples.CANCELLATION_REQUEST,
                        }
                    },
                },
                "responses": {
                    "202": _ok(
                        "The request, waiting for an operator's approval",
                        response_schemas.CancellationSchema,
                        examples.CANCELLATION_ANSWER,
                    ),
                    **_errors("400", "404", "409", "413", "415", "422", "503"),
                },
            }
        },
    )
    spec.path(
        path="/v1/receipts",
        operations={
            "get": {
                "operationId": "getReceipt",
                "summary": "A DIGIT receipt by its number (numbers contain `/`)",
                "description": (
                    "Reprint a receipt DIGIT issued, by receipt number. A receipt of a payment "
                    "this device did not collect also needs `consumerCode` "
                    "(CONSUMER_CODE_REQUIRED; a wrong one is RECEIPT_NOT_FOUND), comes without "
                    "the payer's mobile number, and counts against the device's lookup limit "
                    "(RATE_LIMITED)."
                ),
                "parameters": [
                    {"in": "query", "schema": request_schemas.ReceiptQuerySchema},
                    request_id,
                ],
                "responses": {
                    "200": _ok(
                        "The receipt", response_schemas.ReceiptSchema, examples.RECEIPT_ANSWER
                    ),
                    **_errors("403", "404", "422", "502", "503"),
                },
            }
        },
    )


def add_paths(app: Flask, document: Callable[[APISpec], None]) -> None:
    """Let a module that registers more /v1 routes on `app` document them in its spec."""
    app.extensions.setdefault(EXTRA_PATHS_KEY, []).append(document)


def spec_dict(app: Flask) -> dict[str, Any]:
    """The document, built once per app."""
    cached = app.extensions.get(SPEC_EXTENSION_KEY)
    if cached is None:
        spec = build_spec()
        for document in app.extensions.get(EXTRA_PATHS_KEY, ()):
            document(spec)
        cached = spec.to_dict()
        app.extensions[SPEC_EXTENSION_KEY] = cached
    assert isinstance(cached, dict)
    return cached


@docs_bp.get("/openapi.json")
def openapi_json() -> Any:
    return spec_dict(current_app)


@docs_bp.get("/docs")
def docs() -> Response:
    """The operations are rendered from /openapi.json in the page; the error catalogue and the
    payment-mode table are rendered here, so their anchors exist without JavaScript."""
    html = render_template(
        "docs.html",
        problems=list(CATALOGUE.values()),
        batch_item_only=BATCH_ITEM_ONLY,
        modes=list(MODE_RULES.values()),
        skew_minutes=int(COLLECTED_AT_SKEW.total_seconds() // 60),
    )
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'"
    )
    return response
