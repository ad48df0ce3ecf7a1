"""A cancellation or dishonour request as plain values: what the reversal use cases
(cancellation.py) decide on and the store (store/cancellations.py) keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from integrator.payments.models import PaymentStatus


class Action(StrEnum):
    CANCEL = "CANCEL"
    DISHONOUR = "DISHONOUR"

    @property
    def status(self) -> PaymentStatus:
        """The payment's status once DIGIT applied the action."""
        return PaymentStatus.CANCELLED if self is Action.CANCEL else PaymentStatus.DISHONOURED

    @property
    def instrument_statuses(self) -> frozenset[str]:
        """DIGIT's candidates for the action (PaymentWorkflowValidator)."""
        if self is Action.CANCEL:
            return frozenset({"APPROVED"})
        return frozenset({"APPROVED", "REMITTED"})


class RequestState(StrEnum):
    REQUESTED = "REQUESTED"  # waiting for a second operator
    REJECTED = "REJECTED"  # closed by an operator; nothing was sent
    SENDING = "SENDING"  # approved; the `_workflow` call is under way
    UNKNOWN = "UNKNOWN"  # the call got no usable answer: look in DIGIT before sending again
    REFUSED = "REFUSED"  # DIGIT answered no (digit_codes)
    DONE = "DONE"  # DIGIT reversed the payment


class DuesState(StrEnum):
    FOLLOWING = "FOLLOWING"  # waiting for billing to re-open the dues as a new bill
    REOPENED = "REOPENED"  # the successor bill is known (successor_bills)
    NONE_DUE = "NONE_DUE"  # DIGIT showed no bill for the consumer to the end of the schedule
    GAVE_UP = "GAVE_UP"  # DIGIT could not be asked to the end of the schedule


@dataclass(frozen=True, kw_only=True)
class Operator:
    """Who acts from the console or the CLI (an OPS_USERS account)."""

    name: str
    may_act: bool

    @property
    def actor(self) -> str:
        return f"operator:{self.name}"


@dataclass(frozen=True, kw_only=True)
class CancellationRequest:
    id: str
    payment_id: str
    action: Action
    reason: str
    requested_by: str  # "device:<id>" or "operator:<name>"
    requested_at: datetime
    state: RequestState = RequestState.REQUESTED
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    digit_codes: tuple[str, ...] = ()
    digit_message: str | None = None
    digit_answer: Mapping[str, Any] | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    bills_before: tuple[str, ...] = ()
    dues_state: DuesState | None = None
    successor_bills: Mapping[str, str | None] = field(default_factory=dict)
    dues_checked_at: datetime | None = None
    version: int = 0


class RequestExists(Exception):
    """The store refused a second live request for a payment (its UNIQUE index)."""


class RequestChanged(Exception):
    """The stored request is not the version the caller read."""
