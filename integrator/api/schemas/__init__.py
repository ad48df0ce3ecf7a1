"""The PoS API's wire shapes, one concern a module:

    fields      the field rules (limits, patterns, Money, dates) requests are built of
    requests    request schemas: what the views load (PaymentRequestSchema, BillsQuerySchema, ...)
    responses   response shapes: the `*_view` functions the views answer, and their schemas

The error-code registry is `integrator.api.problems`. The names below are re-exported for callers
outside the edge (webhooks dump payments with `PaymentSchema`).
"""

from integrator.api.schemas.fields import NAME_PATTERN, Money, StrictDate, StrictSchema, coded
from integrator.api.schemas.requests import (
    BillsQuery,
    BillsQuerySchema,
    PaymentLookupSchema,
    PaymentRequestSchema,
    ReceiptQuery,
    ReceiptQuerySchema,
)
from integrator.api.schemas.responses import (
    BillSchema,
    BillsResponseSchema,
    PaymentSchema,
    ProblemSchema,
    ReceiptSchema,
    ValidationResponseSchema,
)

__all__ = [
    "NAME_PATTERN",
    "BillSchema",
    "BillsQuery",
    "BillsQuerySchema",
    "BillsResponseSchema",
    "Money",
    "PaymentLookupSchema",
    "PaymentRequestSchema",
    "PaymentSchema",
    "ProblemSchema",
    "ReceiptQuery",
    "ReceiptQuerySchema",
    "ReceiptSchema",
    "StrictDate",
    "StrictSchema",
    "ValidationResponseSchema",
    "coded",
]
