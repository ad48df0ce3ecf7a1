"""Checks of a request's form that every device view gets, attached with the device key where its
blueprint is registered (`integrator.api.device_policy`), after authentication:

    refuse_impossible_ids   a {payment_id} in the path that cannot be a payment id (NUL, `/`,
                            spaces, 65 characters...) is 404 PAYMENT_NOT_FOUND, as an unknown
                            one is, and never reaches the ledger (where NUL fails the query)
"""

from __future__ import annotations

import re

from flask import request

from integrator.payments.models import PAYMENT_ID_PATTERN
from integrator.payments.use_cases import PaymentNotFound

_PAYMENT_ID = re.compile(PAYMENT_ID_PATTERN)


def refuse_impossible_ids() -> None:
    """before_request: 404 PAYMENT_NOT_FOUND for a path's payment_id no payment can have."""
    payment_id = (request.view_args or {}).get("payment_id")
    if isinstance(payment_id, str) and _PAYMENT_ID.fullmatch(payment_id) is None:
        raise PaymentNotFound(payment_id)
