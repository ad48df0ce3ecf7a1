"""The offline and cash views of the PoS API, on the /v1 blueprint (`pos_bp`, device keys):

    POST /v1/payments/batch       payments collected offline, each with its own Idempotency-Key
    GET  /v1/devices/me/limits    what this device may collect offline and hold
    GET  /v1/devices/me/cash      what this device holds, per city and payment mode

(The cap on cash in hand that POST /v1/payments and /validate apply is
`ApiDependencies.cash_guard`.)

A batch answers 200 with one entry per payment, in order: `accepted` (the payment), `quarantined`
(the payment, stored NEEDS_ATTENTION, and what changed) or `refused` (a problem: the rule, the
field, and Retry-After seconds when trying again later can succeed). An item's own form is checked
on its own: a malformed item is refused, the others go ahead.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Flask
from marshmallow import ValidationError

from integrator.api.access import current_device
from integrator.api.context import api_dependencies, wire
from integrator.api.errors import ApiError, FieldError, echoable, field_errors, pointer
from integrator.api.offline_schemas import cash_view, conflict_view, limits_view
from integrator.api.openapi import JSON, _errors, add_paths
from integrator.api.pos import _KEY, PAYMENT_REQUEST, load_json, pos_bp
from integrator.api.problems import type_url
from integrator.api.schemas.requests import check_collected_at
from integrator.api.schemas.responses import payment_view
from integrator.payments.offline import ItemResult, OfflineItem
from integrator.payments.use_cases import PaymentRequest
from integrator.services import current_services

BATCH_KEY_FIELD = "idempotencyKey"


def init_offline(app: Flask) -> None:
    """Document the routes this module adds to /v1 (they are registered with `pos_bp`)."""
    add_paths(app, document_paths)


# --- views -----------------------------------------------------------------------------------


@pos_bp.post("/payments/batch")
def upload_batch() -> Any:
    body = load_json(_ANY_JSON)
    services = current_services()
    entries = _entries(body, services.settings.offline_batch_max)
    device = current_device()
    answers: list[dict[str, Any] | None] = [None] * len(entries)
    items: list[OfflineItem] = []
    positions: list[int] = []
    for index, entry in enumerate(entries):
        loaded = _load_item(entry, index)
        if isinstance(loaded, dict):
            answers[index] = loaded
        else:
            items.append(loaded)
            positions.append(index)
    for position, result in zip(
        positions, services.offline_uploads.upload(device, items), strict=True
    ):
        answers[position] = _item_view(position, result)
    return {"payments": answers}


@pos_bp.get("/devices/me/limits")
def device_limits() -> Any:
    device = current_device()
    services = current_services()
    limits = services.cash.limits(device)
    return limits_view(device, limits, services.settings.offline_batch_max, wire())


@pos_bp.get("/devices/me/cash")
def device_cash() -> Any:
    device = current_device()
    cash = current_services().cash
    return cash_view(
        device,
        cash.limits(device),
        cash.in_hand_by_mode(device.id),
        cash.in_hand(device.id),
        wire(),
    )


# --- helpers ---------------------------------------------------------------------------------


class _AnyJson:
    """`load_json`'s schema for a body checked by hand (items are loaded one by one)."""

    def load(self, body: Any) -> Any:
        return body


_ANY_JSON: Any = _AnyJson()


def _not_a_batch(code: str) -> ApiError:
    message = "The body must be an object with a list `payments`."
    return ApiError(message, status=422, code=code, errors=[FieldError("payments", code, message)])


def _entries(body: Any, most: int) -> list[Any]:
    if isinstance(body, dict) and "payments" not in body:
        raise _not_a_batch("REQUIRED")
    payments = body.get("payments") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(payments, list):
        raise _not_a_batch("INVALID_TYPE")
    unknown = sorted(set(body) - {"payments"})
    if unknown:
        message = f"Unknown field {unknown[0]}."
        raise ApiError(
            message,
            status=422,
            code="UNKNOWN_FIELD",
            errors=[FieldError(unknown[0], "UNKNOWN_FIELD", message)],
        )
    if not 1 <= len(payments) <= most:
        message = f"A batch carries 1 to {most} payments (OFFLINE_BATCH_MAX)."
        raise ApiError(
            message,
            status=422,
            code="BATCH_SIZE_OUT_OF_RANGE",
            errors=[FieldError("payments", "BATCH_SIZE_OUT_OF_RANGE", message)],
        )
    return payments


def _load_item(entry: Any, index: int) -> OfflineItem | dict[str, Any]:
    """The item, or its refusal (an answer entry) when its own form is wrong."""
    if not isinstance(entry, dict):
        return _refusal(index, None, "INVALID_TYPE", "", "Each payment is an object.")
    fields = dict(entry)
    key = fields.pop(BATCH_KEY_FIELD, None)
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        code = "IDEMPOTENCY_KEY_INVALID" if key is not None else "IDEMPOTENCY_KEY_MISSING"
        return _refusal(
            index,
            key if isinstance(key, str) else None,
            code,
            BATCH_KEY_FIELD,
            "Each payment needs its own idempotencyKey: 1-64 of A-Z a-z 0-9 . _ : -",
        )
    if fields.get("collectedAt") is None:
        return _refusal(
            index, key, "REQUIRED", "collectedAt", "An offline payment says when it was collected."
        )
    try:
        payment_request: PaymentRequest = PAYMENT_REQUEST.load(fields)
        check_collected_at(payment_request, now=api_dependencies().clock())
    except ValidationError as error:
        first = field_errors(error.messages)[0]
        return _refusal(index, key, first.code, first.field, first.message)
    return OfflineItem(idempotency_key=key, request=payment_request)


def _refusal(
    index: int,
    key: str | None,
    code: str,
    field: str | None,
    message: str,
    retry_after: float | None = None,
) -> dict[str, Any]:
    return {
        "index": index,
        "idempotencyKey": echoable(key),
        "outcome": "refused",
        "replayed": False,
        "payment": None,
        "problem": {
            "type": type_url(code),
            "code": code,
            "field": echoable(field),
            "detail": echoable(message),
            "retryAfter": retry_after,
        },
        "conflict": None,
    }


def _item_view(index: int, result: ItemResult) -> dict[str, Any]:
    """One answer entry; the domain's field names (`bills[0].amount`) are written as every
    other answer writes them (`bills/0/amount`, errors.pointer)."""
    if result.payment is None:
        # the domain names the rule of every refusal; a refusal without one would be a bug, and is
        # answered with the catalogue's code for a rule not named more precisely
        code = result.code or "PAYMENT_REJECTED"
        return _refusal(
            index,
            result.idempotency_key,
            code,
            pointer(result.field),
            result.message or "",
            result.retry_after,
        )
    return {
        "index": index,
        "idempotencyKey": result.idempotency_key,
        "outcome": result.outcome.value,
        "replayed": result.replayed,
        "payment": payment_view(result.payment, wire()),
        "problem": None,
        "conflict": conflict_view(result.conflict, wire()) if result.conflict else None,
    }


# --- OpenAPI ---------------------------------------------------------------------------------


def document_paths(spec: APISpec) -> None:
    spec.path(
        path="/v1/payments/batch",
        operations={
            "post": {
                "operationId": "uploadOfflinePayments",
                "summary": "Upload payments collected offline (each with its own key)",
                "description": (
                    '`{"payments": [...]}`: 1 to OFFLINE_BATCH_MAX payments, each a payment '
                    "request (as POST /v1/payments) with `idempotencyKey` and `collectedAt`. "
                    "Each is checked against DIGIT as it is now and answered on its own: "
                    "`accepted` (stored; the worker registers it), `quarantined` (stored "
                    "NEEDS_ATTENTION with reason OFFLINE_CONFLICT and what changed: paid "
                    "elsewhere, bill expired with another total, amount below the minimum, "
                    "city not collectable, collected too long ago, over the offline cash "
                    "limit) or `refused` (nothing stored; `problem.code` says why, "
                    "`problem.retryAfter` when uploading again later can succeed). Uploading "
                    "the same batch again changes nothing and answers `replayed: true`."
                ),
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "One entry per payment, in order",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **_errors("400", "413", "415", "422", "503"),
                },
            }
        },
    )
    spec.path(
        path="/v1/devices/me/limits",
        operations={
            "get": {
                "operationId": "deviceLimits",
                "summary": "What this device may collect offline and hold in cash",
                "description": (
                    "`offlineMaxAgeSeconds`: an uploaded payment collected longer ago is "
                    "quarantined; `offlineCashLimit`: most CASH one upload may carry; "
                    "`cashInHandCap`: CASH held before payments are refused "
                    "(CASH_IN_HAND_CAP_REACHED) until a hand-over (null: no cap)."
                ),
                "responses": {
                    "200": {
                        "description": "The limits",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **_errors("422", "503"),
                },
            }
        },
    )
    spec.path(
        path="/v1/devices/me/cash",
        operations={
            "get": {
                "operationId": "deviceCash",
                "summary": "Cash in hand: collected minus cancelled minus handed over",
                "responses": {
                    "200": {
                        "description": "Per payment mode, and per city and mode",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **_errors("422", "503"),
                },
            }
        },
    )
