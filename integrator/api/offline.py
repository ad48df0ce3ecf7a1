"""The offline and cash views of the PoS API, on the /v1 blueprint (`pos_bp`, device keys):

    POST /v1/payments/batch       payments collected offline, each with its own Idempotency-Key
    GET  /v1/devices/me/limits    what this device may collect offline and hold
    GET  /v1/devices/me/cash      what this device holds, per city and payment mode

(The cap on cash in hand that POST /v1/payments and /validate apply is
`ApiDependencies.cash_guard`.)

A batch answers 200 with one entry per payment, in order: `accepted` (the payment), `quarantined`
(the payment, stored NEEDS_ATTENTION, and what changed) or `refused` (a problem: the rule, the
field, and Retry-After seconds when trying again later can succeed). An item's own form is checked
on its own: a malformed item is refused, the others go ahead. What the views load and answer, and
the schemas /openapi.json publishes for them, are in `offline_schemas`.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Flask
from marshmallow import ValidationError

from integrator.api import examples
from integrator.api.access import current_device
from integrator.api.context import api_dependencies, wire
from integrator.api.errors import ApiError, FieldError, echoable, field_errors, pointer
from integrator.api.offline_schemas import (
    BATCH_KEY_FIELD,
    BatchAnswerSchema,
    DeviceCashSchema,
    DeviceLimitsSchema,
    OfflinePaymentSchema,
    cash_view,
    conflict_view,
    limits_view,
)
from integrator.api.openapi import JSON, _errors, _ok, add_paths
from integrator.api.pos import _KEY, load_json, pos_bp
from integrator.api.problems import type_url
from integrator.api.schemas.requests import check_collected_at
from integrator.api.schemas.responses import payment_view
from integrator.payments.offline import ItemResult, OfflineItem
from integrator.services import current_services

OFFLINE_PAYMENT = OfflinePaymentSchema()


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
    key = entry.get(BATCH_KEY_FIELD)
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        code = "IDEMPOTENCY_KEY_INVALID" if key is not None else "IDEMPOTENCY_KEY_MISSING"
        return _refusal(
            index,
            key if isinstance(key, str) else None,
            code,
            BATCH_KEY_FIELD,
            "Each payment needs its own idempotencyKey: 1-64 of A-Z a-z 0-9 . _ : -",
        )
    if entry.get("collectedAt") is None:
        return _refusal(
            index, key, "REQUIRED", "collectedAt", "An offline payment says when it was collected."
        )
    try:
        item: OfflineItem = OFFLINE_PAYMENT.load(entry)
        check_collected_at(item.request, now=api_dependencies().clock())
    except ValidationError as error:
        first = field_errors(error.messages)[0]
        return _refusal(index, key, first.code, first.field, first.message)
    return item


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


BATCH_DESCRIPTION = """\
Upload the payments a device collected while it had no signal: `{"payments": [...]}`, 1 to \
`batchMax` of them (OFFLINE_BATCH_MAX, 50 by default: GET /v1/devices/me/limits), each a payment \
request as POST /v1/payments takes it, with its own `idempotencyKey` (POST /v1/payments's header) \
and the `collectedAt` the money was taken (OfflinePayment). A body of the wrong form is refused \
whole and nothing is stored. Otherwise the answer is 200 with one entry per payment, in the \
upload's order (`index`); each payment is checked against DIGIT as it is now and stored, or not, \
on its own:

* `accepted`: stored (`payment`, status PENDING at first). The integrator registers it with \
DIGIT in the background (on the bill DIGIT issued in its place only when that is safe: the same \
total, or a part payment the new bill still needs). Poll GET /v1/payments/{id} until it is \
REGISTERED, then print its receipt.
* `quarantined`: the money was taken, but the world moved while the device was offline (the bill \
was paid elsewhere, replaced with another total or expired, the amount is now below the minimum, \
the city can no longer be collected, another payment of the consumer is under way) or the payment \
is beyond the device's offline limits (collected too long ago, more cash than one upload may \
carry). It is stored (`payment`, status NEEDS_ATTENTION, reason OFFLINE_CONFLICT) and not sent to \
DIGIT. `conflict.code` says what changed (its row in the error catalogue), `conflict.message` in \
words, and the rest of `conflict` the details (`violations` and `bills`: totals as served and as \
DIGIT has them now; the limits; `otherPaymentId`). The device has nothing to fix: do not collect \
again and do not upload the payment under another key (that would record the money twice); tell \
the payer the payment is being checked and keep its id. An operator registers it against the \
current bill, records the receipt a clerk issued, or refunds the payer; GET /v1/payments/{id} \
shows the outcome (REGISTERED with receipts, or RESOLVED). Its cash counts in the device's cash \
in hand (GET /v1/devices/me/cash) until it is refunded.
* `refused`: nothing was stored, but the money was taken: keep the payment on the device. \
`problem.code` says why and `problem.field` where. With `problem.retryAfter` (DIGIT or the \
ledger unavailable, the same key being uploaded by another request) upload it again, with the \
same key, after that many seconds. Without it, uploading it unchanged will not succeed by \
itself: correct what the device got wrong (the item's form, a key used for another payment) and \
upload it again, or take it to an operator (a tenant this device may not act for, a bill no one \
knows).

Uploading a batch again is safe: a payment already stored under its key is answered from what was \
stored (`replayed: true`) and never stored twice; its key with another body is refused \
IDEMPOTENCY_KEY_REUSED. After a lost answer, upload the same batch again.

A device's uploads that carry CASH are checked one at a time, so that together they stay within \
`offlineCashLimit`: one sent while another is being checked waits for it, and if that takes \
longer than a few seconds it is answered 409 OFFLINE_UPLOAD_IN_PROGRESS with Retry-After \
(nothing of it stored): upload the same batch again then."""

LIMITS_DESCRIPTION = (
    "The limits this device works under; read them when the device comes online, before it "
    "collects offline. `offlineMaxAgeSeconds`: upload an offline payment within this time of "
    "collecting it, or it is quarantined (COLLECTED_TOO_LONG_AGO). `offlineCashLimit`: most CASH "
    "the device may hold from offline uploads until its next CASH hand-over in the city (earlier "
    "uploads count); the CASH payments beyond it, in the order the money was taken, are "
    "quarantined (OFFLINE_CASH_LIMIT_EXCEEDED). `cashInHandCap`: CASH the device may hold before "
    "new CASH payments are refused (CASH_IN_HAND_CAP_REACHED) until a cashier records a "
    "hand-over; null: no cap. `batchMax`: most payments in one POST /v1/payments/batch. Each is "
    "the device's own when an operator set one (`integrator cash limits`), else the "
    "integrator's (OFFLINE_MAX_AGE_SECONDS, OFFLINE_CASH_LIMIT, CASH_IN_HAND_CAP, "
    "OFFLINE_BATCH_MAX); a change applies within seconds."
)

CASH_DESCRIPTION = (
    "What this device holds now, from the integrator's ledger: the payments it collected that "
    "were neither handed over to a cashier nor reversed (cancelled, dishonoured or refunded) "
    "before that, per payment mode (`byMode`) and per city and mode (`byCity`); a city and mode "
    "holding 0 is left out. Quarantined offline payments count (their money was taken) until an "
    "operator refunds them. A payment reversed after its money was handed over no longer "
    "changes the device's figure: it is the cashier's, shown on the day close. Show it to the "
    "collector before a hand-over: the cashier settles the whole of a city's figure for a mode "
    "and records any difference with a reason. `cashInHandCap` as in GET /v1/devices/me/limits."
)

#: A nullable nested object that only null or the object validates (apispec writes `anyOf` with
#: `{"type": "object", "nullable": true}`, which any object validates).
_NULL = {"type": "object", "nullable": True, "enum": [None]}


def document_paths(spec: APISpec) -> None:
    _document_components(spec)
    spec.path(
        path="/v1/payments/batch",
        operations={
            "post": {
                "operationId": "uploadOfflinePayments",
                "summary": "Upload payments collected offline (each with its own key)",
                "description": BATCH_DESCRIPTION,
                "parameters": ["RequestId"],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {"schema": "OfflineBatch", "examples": examples.BATCH_REQUESTS}
                    },
                },
                "responses": {
                    "200": _ok(
                        "One entry per payment, in the upload's order",
                        "BatchAnswer",
                        examples.BATCH_ANSWER,
                    ),
                    **_errors("400", "409", "413", "415", "422", "503"),
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
                "description": LIMITS_DESCRIPTION,
                "parameters": ["RequestId"],
                "responses": {
                    "200": _ok("The limits", "DeviceLimits", examples.DEVICE_LIMITS_ANSWER),
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
                "summary": "Cash in hand: payments collected, neither handed over nor reversed",
                "description": CASH_DESCRIPTION,
                "parameters": ["RequestId"],
                "responses": {
                    "200": _ok(
                        "Per payment mode, and per city and mode",
                        "DeviceCash",
                        examples.DEVICE_CASH_ANSWER,
                    ),
                    **_errors("422", "503"),
                },
            }
        },
    )


def _document_components(spec: APISpec) -> None:
    """OfflinePayment (with PaymentRequest's rules per payment mode), the batch's body, and the
    answers' schemas."""
    request = spec.components.schemas["PaymentRequest"]
    spec.components.schema(
        "OfflinePayment",
        {
            "description": "A payment collected offline: a payment request as POST /v1/payments "
            "takes it (PaymentRequest: the same rules per payment mode), with its own "
            "`idempotencyKey`, and `collectedAt` required.",
            "oneOf": request["oneOf"],
            "x-payment-mode-rules": request["x-payment-mode-rules"],
        },
        schema=OfflinePaymentSchema,
    )
    spec.components.schema(
        "OfflineBatch",
        {
            "type": "object",
            "required": ["payments"],
            "additionalProperties": False,
            "properties": {
                "payments": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/OfflinePayment"},
                    "description": "1 to batchMax payments (GET /v1/devices/me/limits; "
                    "BATCH_SIZE_OUT_OF_RANGE otherwise), each with its own idempotencyKey.",
                }
            },
        },
    )
    spec.components.schema("BatchAnswer", schema=BatchAnswerSchema)
    spec.components.schema("DeviceLimits", schema=DeviceLimitsSchema)
    spec.components.schema("DeviceCash", schema=DeviceCashSchema)
    item = spec.components.schemas["BatchItem"]["properties"]
    for name in ("payment", "problem", "conflict"):
        ref = next(s["$ref"] for s in item[name].pop("anyOf") if "$ref" in s)
        item[name]["oneOf"] = [{"$ref": ref}, _NULL]
