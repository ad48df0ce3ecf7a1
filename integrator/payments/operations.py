"""The operator's use cases, by the module that holds each (this module re-exports them):

payments.refusals           OperationRefused and its codes, actor_of
payments.search             PaymentQuery, PaymentFinder, PaymentPage: finding payments
payments.days               day_bounds: calendar days as time ranges
payments.operator_actions   PaymentOperations: retry, retry matching, resolve
payments.resolution_records Resolution: the ways an operator closes a payment
payments.resolutions        ResolutionChecks: what DIGIT must say before closing
"""

from __future__ import annotations

from integrator.payments.days import day_bounds
from integrator.payments.operator_actions import (
    RETRY_MATCHING_LIMIT,
    PaymentOperations,
    RetrySummary,
)
from integrator.payments.refusals import OperationRefused, actor_of
from integrator.payments.resolution_records import Resolution
from integrator.payments.resolutions import (
    ResolutionChecks,
    asking_digit,
    with_receipts,
)
from integrator.payments.search import (
    PaymentFinder,
    PaymentPage,
    PaymentQuery,
    StatusRangeIndex,
)

# The names these helpers had when they lived here.
_asking_digit = asking_digit
_with_receipts = with_receipts

__all__ = [
    "RETRY_MATCHING_LIMIT",
    "OperationRefused",
    "PaymentFinder",
    "PaymentOperations",
    "PaymentPage",
    "PaymentQuery",
    "Resolution",
    "ResolutionChecks",
    "RetrySummary",
    "StatusRangeIndex",
    "actor_of",
    "asking_digit",
    "day_bounds",
    "with_receipts",
]
