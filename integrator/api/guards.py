"""Checks of a request's form that every device view gets, attached with the device key where its
blueprint is registered (`integrator.api.device_policy`), after authentication:

    refuse_impossible_ids       a {payment_id} in the path that cannot be a payment id (NUL,
                                spaces, 65 characters...) is 404 PAYMENT_NOT_FOUND, as an
                                unknown one is, and never reaches the ledger (where NUL fails)
    refuse_unknown_parameters   a query parameter sent to a view that takes none is 422
                                UNKNOWN_FIELD naming it; a view that takes some declares it with
                                `reads_query` and loads them with a StrictSchema, which refuses
                                an unknown one itself (beside its other errors)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from integrator.api.errors import ApiError, FieldError
from integrator.payments.models import PAYMENT_ID_PATTERN
from integrator.payments.use_cases import PaymentNotFound

_PAYMENT_ID = re.compile(PAYMENT_ID_PATTERN)


def refuse_impossible_ids() -> None:
    """before_request: 404 PAYMENT_NOT_FOUND for a path's payment_id no payment can have."""
    payment_id = (request.view_args or {}).get("payment_id")
    if isinstance(payment_id, str) and _PAYMENT_ID.fullmatch(payment_id) is None:
        raise PaymentNotFound(payment_id)


View = TypeVar("View", bound=Callable[..., Any])

#: marshmallow's own text for an unknown field (coded UNKNOWN_FIELD), so both read alike
UNKNOWN_MESSAGE = "Unknown field."


def reads_query(view: View) -> View:
    """Declares that a view loads its query string with a schema (see the module's table)."""
    view.reads_query = True  # type: ignore[attr-defined]
    return view


def refuse_unknown_parameters() -> None:
    """before_request: 422 UNKNOWN_FIELD, one error per parameter, when a view that takes no
    query parameter is sent some (a misspelt idempotencyKey must not be silently ignored)."""
    if not request.args:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "reads_query", False):
        return
    names = list(dict.fromkeys(request.args))
    raise ApiError(
        f"Unknown query parameter {names[0]}: this operation takes none.",
        status=422,
        code="UNKNOWN_FIELD",
        errors=[FieldError(name, "UNKNOWN_FIELD", UNKNOWN_MESSAGE) for name in names],
    )
