"""GET /openapi.json (built with apispec from the schemas the views use) and GET /docs (offline).

`build_spec()` describes every /v1 operation; a unit test checks it against app.url_map, so a
new route without documentation fails the build.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app

from integrator.api import schemas

docs_bp = Blueprint("docs", __name__)

SPEC_EXTENSION_KEY = "integrator.api.openapi"
EXTRA_PATHS_KEY = "integrator.api.openapi.extra_paths"
PROBLEM = "application/problem+json"
JSON = "application/json"

_RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}
_REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-ID": _REQUEST_ID}
    if retry_after:
        headers["Retry-After"] = _RETRY_AFTER
    return {
        "description": description,
        "headers": headers,
        "content": {PROBLEM: {"schema": "Problem"}},
    }


def _ok(description: str, schema: Any, **headers: Any) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": _REQUEST_ID, **headers},
        "content": {JSON: {"schema": schema}},
    }


_COMMON_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "429": {"$ref": "#/components/responses/RateLimited"},
    "500": {"$ref": "#/components/responses/InternalError"},
}


def _errors(*extra: str) -> dict[str, Any]:
    table: dict[str, Any] = dict(_COMMON_ERRORS)
    for status in extra:
        table[status] = {"$ref": f"#/components/responses/{_NAMED[status]}"}
    return table


_NAMED = {
    "400": "BadRequest",
    "403": "TenantForbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "422": "Unprocessable",
    "503": "DigitUnavailable",
}

_PAYMENT_BODY = {"required": True, "content": {JSON: {"schema": schemas.PaymentRequestSchema}}}


def build_spec() -> APISpec:
    """The OpenAPI 3 document of the PoS API."""
    spec = APISpec(
        title="DIGIT bill-collection integrator: PoS API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Fetch DIGIT bills and register payments from PoS devices. Money is a JSON "
                "number of rupees, never a string. Every error is application/problem+json "
                "with a stable `code` and per-field `errors`."
            )
        },
        security=[{"deviceKey": []}],
    )
    _components(spec)
    _paths(spec)
    return spec


def _components(spec: APISpec) -> None:
    spec.components.security_scheme(
        "deviceKey",
        {"type": "http", "scheme": "bearer", "description": "The device's API key."},
    )
    spec.components.schema("Problem", schema=schemas.ProblemSchema)
    spec.components.schema("Payment", schema=schemas.PaymentSchema)
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
            "description": '1-64 of A-Z a-z 0-9 . _ : -, bare or as a quoted string ("abc").',
            "schema": {"type": "string", "pattern": r'^"?[A-Za-z0-9._:-]{1,64}"?$'},
        },
    )
    spec.components.parameter(
        "RequestId",
        "header",
        {"name": "X-Request-ID", "required": False, "schema": {"type": "string"}},
    )
    for name, description, retry_after in (
        ("BadRequest", "Malformed JSON or header (e.g. IDEMPOTENCY_KEY_MISSING).", False),
        ("Unauthorized", "Missing, unknown or revoked device key.", False),
        ("TenantForbidden", "The device may not act for this tenant.", False),
        ("NotFound", "No such resource for this device.", False),
        ("Conflict", "PAYMENT_IN_PROGRESS, or REQUEST_IN_FLIGHT (with Retry-After).", True),
        ("PayloadTooLarge", "The body is larger than the configured limit.", False),
        ("UnsupportedMediaType", "The body is not application/json.", False),
        ("Unprocessable", "A field or a payment rule refused the request.", False),
        ("RateLimited", "Too many requests from this device.", True),
        ("DigitUnavailable", "DIGIT cannot be reached; nothing was recorded.", True),
        ("InternalError", "An unexpected error; no internals are disclosed.", False),
    ):
        spec.components.response(name, _problem(description, retry_after=retry_after))


def _paths(spec: APISpec) -> None:
    request_id = "RequestId"
    spec.path(
        path="/v1/bills",
        operations={
            "get": {
                "operationId": "listBills",
                "summary": "Bills due for a consumer, or for a payer's mobile number",
                "description": (
                    "Exactly one form: `businessService` + `consumerCode`, or `mobileNumber` "
                    "(optionally with `businessService`). An empty list when nothing is due."
                ),
                "parameters": [{"in": "query", "schema": schemas.BillsQuerySchema}, request_id],
                "responses": {
                    "200": _ok("The bills", schemas.BillsResponseSchema),
                    **_errors("403", "422", "503"),
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
                "parameters": ["IdempotencyKey", request_id],
                "requestBody": _PAYMENT_BODY,
                "responses": {
                    "200": _ok(
                        "A replay of an earlier request with the same key",
                        "Payment",
                        **{
                            "Idempotent-Replayed": {
                                "$ref": "#/components/headers/Idempotent-Replayed"
                            },
                            "Location": {"$ref": "#/components/headers/Location"},
                        },
                    ),
                    "201": _ok(
                        "Registered with DIGIT within the budget: receipts included",
                        "Payment",
                        Location={"$ref": "#/components/headers/Location"},
                    ),
                    "202": _ok(
                        "Accepted, registration continues (status PENDING); poll Location",
                        "Payment",
                        Location={"$ref": "#/components/headers/Location"},
                    ),
                    **_errors("400", "403", "409", "413", "415", "422", "503"),
                },
            },
            "get": {
                "operationId": "findPayment",
                "summary": "This device's payment made with an Idempotency-Key",
                "parameters": [{"in": "query", "schema": schemas.PaymentLookupSchema}, request_id],
                "responses": {
                    "200": _ok("The payment", "Payment"),
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
                "parameters": [request_id],
                "requestBody": _PAYMENT_BODY,
                "responses": {
                    "200": _ok("What may be paid per bill", schemas.ValidationResponseSchema),
                    **_errors("400", "403", "409", "413", "415", "422", "503"),
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
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    request_id,
                ],
                "responses": {"200": _ok("The payment", "Payment"), **_errors("404")},
            }
        },
    )
    spec.path(
        path="/v1/receipts",
        operations={
            "get": {
                "operationId": "getReceipt",
                "summary": "A DIGIT receipt by its number (numbers contain `/`)",
                "parameters": [{"in": "query", "schema": schemas.ReceiptQuerySchema}, request_id],
                "responses": {
                    "200": _ok("The receipt", schemas.ReceiptSchema),
                    **_errors("403", "404", "422", "503"),
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
    html = resources.files("integrator.api").joinpath("templates/docs.html").read_text("utf-8")
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'"
    )
    return response
