"""The payment state machine: the one place where a payment's status changes.

    PENDING ──────────► REGISTERED ──► CANCELLED / DISHONOURED   (approved reversal)
       │  ▲ └─────────► REFUSED    (DIGIT refused the first create; the device was told so)
       ▼  │ operator retry
    NEEDS_ATTENTION ──► RESOLVED          (final)

Every change is recorded in the payment's history with time, actor and reason. Final states are
never retried; the store releases the consumer locks when a payment reaches one. REGISTERED is
final for registration but may still be reversed in DIGIT (`payments.cancellation`): a reversal
never registers again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from integrator.payments.models import HistoryEntry, InvalidTransition, Payment, PaymentStatus

ALLOWED: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(
        {PaymentStatus.REGISTERED, PaymentStatus.NEEDS_ATTENTION, PaymentStatus.REFUSED}
    ),
    PaymentStatus.NEEDS_ATTENTION: frozenset({PaymentStatus.PENDING, PaymentStatus.RESOLVED}),
    PaymentStatus.REGISTERED: frozenset({PaymentStatus.CANCELLED, PaymentStatus.DISHONOURED}),
    PaymentStatus.RESOLVED: frozenset(),
    PaymentStatus.CANCELLED: frozenset(),
    PaymentStatus.DISHONOURED: frozenset(),
    PaymentStatus.REFUSED: frozenset(),
}

#: Statuses from which a payment is reversed in DIGIT, never registered again.
REVERSED: frozenset[PaymentStatus] = frozenset({PaymentStatus.CANCELLED, PaymentStatus.DISHONOURED})

#: Statuses in which registration is over (nothing is retried; consumers are released).
FINAL: frozenset[PaymentStatus] = frozenset(
    {PaymentStatus.REGISTERED, PaymentStatus.RESOLVED, PaymentStatus.REFUSED, *REVERSED}
)

#: Statuses in which a payment holds its consumers' locks.
UNFINISHED: frozenset[PaymentStatus] = frozenset(PaymentStatus) - FINAL


def is_final(status: PaymentStatus) -> bool:
    return status in FINAL


def can_transition(from_status: PaymentStatus, to_status: PaymentStatus) -> bool:
    return to_status in ALLOWED[from_status]


def allowed_sources(to_status: PaymentStatus) -> frozenset[PaymentStatus]:
    """The statuses from which `to_status` may be reached (the store re-checks with these)."""
    return frozenset(s for s, targets in ALLOWED.items() if to_status in targets)


def transition(
    payment: Payment,
    to: PaymentStatus,
    *,
    actor: str,
    reason: str,
    at: datetime,
    codes: Iterable[str] = (),
    latency_ms: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Payment:
    """`payment` moved to `to`, with the change appended to its history.

    Raises `InvalidTransition` unless `to` is in `ALLOWED[payment.status]`. Side fields follow the
    status: REGISTERED sets `registered_at`; NEEDS_ATTENTION sets `needs_attention_reason`;
    RESOLVED sets `resolution`; an operator retry (NEEDS_ATTENTION -> PENDING) clears
    `needs_attention_reason` and `last_error`.
    """
    if not can_transition(payment.status, to):
        raise InvalidTransition(payment.id, payment.status, to)
    entry = HistoryEntry(
        at=at,
        actor=actor,
        event="transition",
        from_status=payment.status,
        to_status=to,
        reason=reason,
        codes=tuple(codes),
        latency_ms=latency_ms,
        detail=dict(detail or {}),
    )
    changes: dict[str, Any] = {"status": to, "history": (*payment.history, entry)}
    if to is PaymentStatus.REGISTERED:
        changes["registered_at"] = at
    elif to is PaymentStatus.NEEDS_ATTENTION:
        changes["needs_attention_reason"] = reason
    elif to is PaymentStatus.RESOLVED:
        changes["resolution"] = reason
    elif to is PaymentStatus.PENDING:
        changes["needs_attention_reason"] = None
        changes["last_error"] = None
    return replace(payment, **changes)


def record(
    payment: Payment,
    event: str,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    codes: Iterable[str] = (),
    latency_ms: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Payment:
    """`payment` with a non-status event appended to its history (an attempt, a lookup...).

    A failed attempt identical to the entry before it (same event, actor, reason, codes and
    detail) is counted on that entry instead (`count`, `last_at`): a payment blocked for days
    keeps a history a person can read.
    """
    entry = HistoryEntry(
        at=at,
        actor=actor,
        event=event,
        reason=reason,
        codes=tuple(codes),
        latency_ms=latency_ms,
        detail=dict(detail or {}),
    )
    last = payment.history[-1] if payment.history else None
    if last is not None and event == "attempt" and _same_failure(last, entry):
        repeated = replace(last, count=last.count + 1, last_at=at)
        return replace(payment, history=(*payment.history[:-1], repeated))
    return replace(payment, history=(*payment.history, entry))


def _same_failure(last: HistoryEntry, entry: HistoryEntry) -> bool:
    """Both are attempts that ended without a decision, for the same reason and codes."""
    return (
        last.event == entry.event == "attempt"
        and last.to_status is None
        and (last.actor, last.reason, last.codes, dict(last.detail))
        == (entry.actor, entry.reason, entry.codes, dict(entry.detail))
    )


def mark_create_sent(
    payment: Payment, bill_ids: Iterable[str], *, actor: str, at: datetime
) -> Payment:
    """`payment` recorded as about to call payments/_create for `bill_ids`.

    Save this (with the attempt's fence) *before* calling DIGIT: from then on the outcome may be
    unknown and DIGIT must be searched by these billIds before anything is resent. The set of
    targeted billIds only grows. Only a PENDING payment may be sent.
    """
    if payment.status is not PaymentStatus.PENDING:
        raise InvalidTransition(payment.id, payment.status, PaymentStatus.PENDING)
    ids = frozenset(bill_ids)
    entry = HistoryEntry(at=at, actor=actor, event="create_sent", detail={"bill_ids": sorted(ids)})
    return replace(
        payment,
        create_sent=True,
        targeted_bill_ids=payment.targeted_bill_ids | ids,
        history=(*payment.history, entry),
    )
