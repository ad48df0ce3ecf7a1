"""The one error mapper: every error of the HTTP edge becomes an `application/problem+json` body.

    {"type", "title", "status", "detail", "code", "errors": [{"field", "code", "message"}]}

| raised                                   | status | code                                   |
|------------------------------------------|--------|----------------------------------------|
| ApiError (the edge's own: auth, headers) | its own| its own (UNAUTHORIZED, TENANT_FORBIDDEN,|
|                                          |        | RATE_LIMITED, IDEMPOTENCY_KEY_*, ...)  |
| marshmallow ValidationError (schemas)    | 422    | the first field's rule (REQUIRED, ...) |
| PaymentRejected(violations)              | 422    | the first violation's code             |
| PaymentRefusedByDigit(code, violations)  | 422    | BILL_ALREADY_PAID / DIGIT_REFUSED_PAYMENT |
| IdempotencyKeyReused                     | 422    | IDEMPOTENCY_KEY_REUSED                 |
| PaymentInProgress                        | 409    | PAYMENT_IN_PROGRESS                    |
| RequestInFlight                          | 409    | REQUEST_IN_FLIGHT + Retry-After        |
| OfflineUploadInProgress                  | 409    | OFFLINE_UPLOAD_IN_PROGRESS + Retry-After |
| DigitUnreachable                         | 503    | DIGIT_UNAVAILABLE + Retry-After        |
| LedgerUnavailable                        | 503    | LEDGER_UNAVAILABLE + Retry-After       |
| ReceiptNotReady                          | 409    | RECEIPT_NOT_READY (+ status)           |
| ConsumerCodeRequired                     | 422    | CONSUMER_CODE_REQUIRED                 |
| ReceiptLookupLimited                     | 429    | RATE_LIMITED + Retry-After             |
| NotFound (PaymentNotFound, ...)          | 404    | its code                               |
| CancellationRefused (api.cancellations)  | 404/409/422 | CANCELLATION_* (its table)        |
| redis ConnectionError / TimeoutError     | 503    | STORE_UNAVAILABLE + Retry-After        |
| digit DigitUnavailable/OutcomeUnknown    | 503    | DIGIT_UNAVAILABLE + Retry-After        |
| digit DigitAuthError, DigitForbidden     | 503    | DIGIT_UNAVAILABLE + Retry-After        |
| digit DigitRejected                      | 502    | DIGIT_REJECTED (DIGIT's codes listed)  |
| werkzeug HTTPException (404, 405, 413..) | its own| NOT_FOUND, METHOD_NOT_ALLOWED, ...     |
| anything else                            | 500    | INTERNAL_ERROR (traceback logged only) |

Schema messages carry their rule's code (`schemas.fields.coded`), so a 422 names field, rule and
message. Every code is in the catalogue (`integrator.api.problems`), and `type` is its /docs anchor.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import redis as redis_lib
from flask import Flask, Response, current_app
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from integrator.api.problems import type_url
from integrator.api.schemas.fields import code_of
from integrator.digit.errors import (
    DigitAuthError,
    DigitError,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitRejected,
    DigitUnavailable,
)
from integrator.payments.models import PaymentError
from integrator.payments.use_cases import (
    ConsumerCodeRequired,
    DigitUnreachable,
    IdempotencyKeyReused,
    LedgerUnavailable,
    NotFound,
    OfflineUploadInProgress,
    PaymentInProgress,
    PaymentRefusedByDigit,
    PaymentRejected,
    ReceiptLookupLimited,
    ReceiptNotReady,
    RequestInFlight,
)

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"
DIGIT_RETRY_AFTER_SECONDS = 30  # when DIGIT is down and the use case did not say how long
STORE_RETRY_AFTER_SECONDS = 5  # when Redis cannot be reached


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `field` is a path such as `bills/0/amount` (None: the whole)."""

    field: str | None
    code: str
    message: str


class ApiError(Exception):
    """An error the edge raises itself, with its status and code."""

    status: int = 400
    code: str = "BAD_REQUEST"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"

    def __init__(self, detail: str = "A valid device key is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="integrator"'})


class TenantForbidden(ApiError):
    status = 403
    code = "TENANT_FORBIDDEN"

    def __init__(self, field: str = "tenantId") -> None:
        message = "This device may not act for this tenant."
        super().__init__(message, errors=[FieldError(field, self.code, message)])


class RateLimited(ApiError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "Too many requests from this device; retry later.",
            headers={"Retry-After": _seconds(retry_after)},
        )


def field_errors(messages: Any, path: tuple[str, ...] = ()) -> list[FieldError]:
    """Flatten marshmallow's nested messages into FieldErrors with `a/0/b` paths."""
    if isinstance(messages, Mapping):
        found: list[FieldError] = []
        for key, value in messages.items():
            child = path if key == "_schema" else (*path, str(key))
            found.extend(field_errors(value, child))
        return found
    if isinstance(messages, str):
        field = "/".join(path) or None
        return [FieldError(field, code_of(messages), messages)]
    if isinstance(messages, Iterable):
        return [e for m in messages for e in field_errors(m, path)]
    return [FieldError("/".join(path) or None, "INVALID_FIELD", str(messages))]


# --- the problem body ------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """A problem+json response. `type` points at the code's entry in the docs."""
    body: dict[str, Any] = {
        "type": type_url(code),
        "title": title or _title(status),
        "status": status,
        "detail": echoable(detail),
        "code": code,
        "errors": [
            {"field": echoable(e.field), "code": e.code, "message": echoable(e.message)}
            for e in errors
        ],
    }
    clash = set(extra or {}) & set(body)
    if clash:
        # RFC 9457's members (status: the HTTP status, an integer) are never overwritten
        raise ValueError(f"extra members {sorted(clash)} would overwrite the problem's own")
    body.update(extra or {})
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE
    )
    response.headers.update(dict(headers or {}))
    return response


@overload
def echoable(text: str) -> str: ...
@overload
def echoable(text: None) -> None: ...
def echoable(text: str | None) -> str | None:
    """`text` from a request as an answer may echo it: an unpaired surrogate (a JSON body may hold
    one, e.g. as an unknown field's name) cannot be written as UTF-8, so it becomes U+FFFD."""
    return None if text is None else _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- handlers --------------------------------------------------------------------------------


def handle_api_error(error: ApiError) -> Response:
    return problem(
        error.status, error.code, error.detail, errors=error.errors, headers=error.headers
    )


def handle_validation_error(error: ValidationError) -> Response:
    errors = field_errors(error.messages) or [FieldError(None, "INVALID_FIELD", "Invalid input.")]
    return problem(422, errors[0].code, "The request is not valid.", errors=errors)


def pointer(field: str | None) -> str | None:
    """The domain's `bills[1].amount` as the API's `bills/1/amount`."""
    if not field:
        return None
    return _INDEX.sub(r"/\1", field).replace(".", "/").strip("/")


_INDEX = re.compile(r"\[(\d+)\]")


def handle_payment_error(error: PaymentError) -> Response:
    from integrator.api.cancellations import cancellation_problem
    from integrator.payments.cancellation import CancellationRefused

    if isinstance(error, CancellationRefused):
        return cancellation_problem(error)
    if isinstance(error, PaymentRefusedByDigit):
        errors = [FieldError(pointer(v.field), v.code, v.message) for v in error.violations]
        return problem(
            422,
            error.code,
            "DIGIT refused to record the payment; nothing was registered. Do not collect.",
            errors=errors,
            extra={"paymentId": error.payment_id},
        )
    if isinstance(error, PaymentRejected):
        errors = [FieldError(pointer(v.field), v.code, v.message) for v in error.violations]
        code = errors[0].code if errors else "PAYMENT_REJECTED"
        return problem(422, code, "The payment breaks a payment rule.", errors=errors)
    if isinstance(error, IdempotencyKeyReused):
        message = "This Idempotency-Key was already used for a different payment."
        field = FieldError("Idempotency-Key", "IDEMPOTENCY_KEY_REUSED", message)
        return problem(422, "IDEMPOTENCY_KEY_REUSED", message, errors=[field])
    if isinstance(error, PaymentInProgress):
        return problem(
            409,
            "PAYMENT_IN_PROGRESS",
            "A payment for this bill is still in progress; check it before paying again.",
            extra={"paymentId": error.payment_id, "billId": error.bill_id},
        )
    if isinstance(error, RequestInFlight):
        return problem(
            409,
            "REQUEST_IN_FLIGHT",
            "A request with this Idempotency-Key is being processed; retry later.",
            headers={"Retry-After": _seconds(error.retry_after)},
        )
    if isinstance(error, OfflineUploadInProgress):
        return problem(
            409,
            "OFFLINE_UPLOAD_IN_PROGRESS",
            "Another upload of this device is being checked; nothing of this one was stored. "
            "Upload it again after Retry-After seconds.",
            headers={"Retry-After": _seconds(error.retry_after)},
        )
    if isinstance(error, DigitUnreachable):
        return _digit_unavailable(error.retry_after)
    if isinstance(error, LedgerUnavailable):
        return problem(
            503,
            "LEDGER_UNAVAILABLE",
            "The payment ledger cannot be reached; retry with the same Idempotency-Key.",
            headers={"Retry-After": _seconds(error.retry_after)},
        )
    if isinstance(error, ReceiptNotReady):
        return problem(
            409,
            "RECEIPT_NOT_READY",
            f"The payment has no DIGIT receipt to print: it is {error.status}.",
            extra={"paymentId": error.payment_id, "paymentStatus": error.status},
        )
    if isinstance(error, ConsumerCodeRequired):
        message = "consumerCode is required for a receipt this device did not collect."
        field = FieldError("consumerCode", "CONSUMER_CODE_REQUIRED", message)
        return problem(422, "CONSUMER_CODE_REQUIRED", message, errors=[field])
    if isinstance(error, ReceiptLookupLimited):
        return problem(
            429,
            "RATE_LIMITED",
            "Too many lookups of receipts this device did not collect; retry later.",
            headers={"Retry-After": _seconds(error.retry_after)},
        )
    if isinstance(error, NotFound):
        return problem(404, error.code, "Not found.")
    return handle_unexpected(error)  # e.g. InvalidTransition: a bug, not the caller's fault


def handle_digit_error(error: DigitError) -> Response:
    # a 403 from DIGIT's access control is about our account, not the device's request
    if isinstance(error, DigitUnavailable | DigitOutcomeUnknown | DigitAuthError | DigitForbidden):
        log.warning("DIGIT unavailable at the edge: %s", error)
        return _digit_unavailable(DIGIT_RETRY_AFTER_SECONDS)
    if isinstance(error, DigitRejected):
        errors = [FieldError(None, e.code, e.message) for e in error.errors]
        return problem(502, "DIGIT_REJECTED", "DIGIT refused the request.", errors=errors)
    return handle_unexpected(error)


def _digit_unavailable(retry_after: float) -> Response:
    return problem(
        503,
        "DIGIT_UNAVAILABLE",
        "DIGIT cannot be reached right now; nothing was recorded. Retry later.",
        headers={"Retry-After": _seconds(retry_after)},
    )


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
}


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    headers = {k: v for k, v in error.get_headers() if k.lower() not in {"content-type"}}
    detail = error.description or _title(status)
    return problem(status, _HTTP_CODES.get(status, "HTTP_ERROR"), detail, headers=headers)


def handle_unexpected(error: BaseException) -> Response:
    """Log the traceback; answer a generic 500 with no internals."""
    log.error("unhandled error: %s", type(error).__name__, exc_info=error)
    return problem(500, "INTERNAL_ERROR", "An unexpected error occurred.")


def init_app(app: Flask) -> None:
    """Install the mapper on the whole app (not only the API blueprints: 404/405 too)."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(PaymentError, handle_payment_error)
    app.register_error_handler(DigitError, handle_digit_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    # Redis unreachable: nothing can be stored, so nothing was accepted; the device may retry.
    app.register_error_handler(redis_lib.exceptions.ConnectionError, handle_store_unavailable)
    app.register_error_handler(redis_lib.exceptions.TimeoutError, handle_store_unavailable)
    app.register_error_handler(Exception, handle_unexpected)


def handle_store_unavailable(error: Exception) -> Response:
    log.error("Redis unavailable: %s", type(error).__name__)
    return problem(
        503,
        "STORE_UNAVAILABLE",
        "The integrator cannot reach its store right now; retry with the same Idempotency-Key.",
        headers={"Retry-After": _seconds(STORE_RETRY_AFTER_SECONDS)},
    )
