"""How a refused cancellation request reaches a device: the domain's codes as problem codes.

`integrator.payments.cancellation.CancellationRefused` carries the domain's code (the operator's
console and CLI show it as is); a device gets the catalogued code of this table and its status.
Codes a device cannot meet (approval, operators) fall back to CANCELLATION_REFUSED.
"""

from __future__ import annotations

from flask import Response

from integrator.api.errors import FieldError, problem
from integrator.payments.cancellation import CancellationRefused

#: domain code -> the API's problem code
CANCELLATION_CODES = {
    "NOT_FOUND": "PAYMENT_NOT_FOUND",
    "REASON_REQUIRED": "CANCELLATION_REASON_REQUIRED",
    "NOT_REGISTERED": "PAYMENT_NOT_REVERSIBLE",
    "WINDOW_PASSED": "CANCELLATION_WINDOW_PASSED",
    "ALREADY_REQUESTED": "CANCELLATION_ALREADY_REQUESTED",
    "MODE_NOT_CANCELLABLE": "CANCELLATION_MODE_NOT_ALLOWED",
    "INSTRUMENT_NOT_APPROVED": "CANCELLATION_INSTRUMENT_NOT_APPROVED",
    "NOT_NEWEST": "CANCELLATION_NOT_NEWEST",
    "NO_WORKFLOW_ROLE": "CANCELLATION_NOT_PERMITTED",
    "MIXED_TENANTS": "CANCELLATION_MIXED_TENANTS",
    "DIGIT_PAYMENT_NOT_FOUND": "CANCELLATION_NOT_IN_DIGIT",
}
_STATUS = {
    "PAYMENT_NOT_FOUND": 404,
    "CANCELLATION_REASON_REQUIRED": 422,
    "CANCELLATION_MODE_NOT_ALLOWED": 422,
    "CANCELLATION_INSTRUMENT_NOT_APPROVED": 422,
    "CANCELLATION_NOT_NEWEST": 422,
    "CANCELLATION_NOT_PERMITTED": 422,
    "CANCELLATION_MIXED_TENANTS": 422,
}


def cancellation_problem(error: CancellationRefused) -> Response:
    code = CANCELLATION_CODES.get(error.code, "CANCELLATION_REFUSED")
    status = _STATUS.get(code, 409)
    if code == "PAYMENT_NOT_FOUND":
        return problem(status, code, "Not found.")
    errors = [FieldError(error.field, code, error.message)] if error.field else []
    return problem(status, code, error.message, errors=errors)
