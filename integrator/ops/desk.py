"""The operator's desk: the operator use cases (`PaymentOperations`) with an audit of every
attempt, done or refused, and the bulk retry shown before it is done. The console and the CLI
both act through it, so both are audited the same way.

    desk.retry(id, operator=)              one payment; refused (and recorded) when a retry
                                           cannot help (payments.bulk.retry_refusal)
    desk.resolve(id, operator=, ...)       as PaymentOperations.resolve, recorded
    desk.plan_retry(ids)                   what a bulk retry would touch and skip, nothing done
    desk.retry_many(ids, operator=)        re-plans, then retries each; BulkResult
    desk.refused(operator, action, ...)    record a refusal decided elsewhere (a role, a form,
                                           the cancellation, reconciliation and cash rules)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from integrator.payments.bulk import BulkResult, RetryPlan, plan_retry, retry_refusal
from integrator.payments.models import Payment
from integrator.payments.operations import OperationRefused, PaymentOperations, Resolution
from integrator.store.operator_actions import OperatorAction, OperatorActionStore
from integrator.store.payments import PaymentStore

#: The most payments one bulk action may touch.
BULK_LIMIT = 1000


class OperatorDesk:
    def __init__(
        self,
        *,
        operations: PaymentOperations,
        payments: PaymentStore,
        audit: OperatorActionStore,
        clock: Callable[[], datetime],
        via: str,
    ) -> None:
        self.operations = operations
        self._payments = payments
        self.audit = audit
        self._clock = clock
        self._via = via

    def _record(
        self,
        *,
        operator: str,
        action: str,
        payment_id: str | None,
        refused: OperationRefused | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.audit.record(
            OperatorAction(
                at=self._clock(),
                operator=operator,
                via=self._via,
                action=action,
                payment_id=payment_id,
                outcome="refused" if refused else "done",
                code=refused.code if refused else None,
                message=refused.message if refused else None,
                detail=detail or {},
            )
        )

    def refused(
        self,
        operator: str,
        action: str,
        *,
        payment_id: str | None,
        code: str,
        message: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an action refused before it reached the use cases (a role, a bad form)."""
        self._record(
            operator=operator,
            action=action,
            payment_id=payment_id,
            refused=OperationRefused(code, message),
            detail=detail,
        )

    def retry(self, payment_id: str, *, operator: str) -> Payment:
        try:
            payment = self.operations.get(payment_id)
            refusal = retry_refusal(payment)
            if refusal is not None:
                raise OperationRefused(refusal[0], f"a retry cannot help: {refusal[1]}")
            done = self.operations.retry(payment_id, operator=operator)
        except OperationRefused as exc:
            self._record(operator=operator, action="retry", payment_id=payment_id, refused=exc)
            raise
        self._record(operator=operator, action="retry", payment_id=payment_id)
        return done

    def resolve(
        self,
        payment_id: str,
        *,
        operator: str,
        resolution: Resolution,
        note: str,
        receipt_number: str | None = None,
    ) -> Payment:
        detail = {"resolution": resolution.value, "note": note, "receiptNumber": receipt_number}
        try:
            done = self.operations.resolve(
                payment_id,
                operator=operator,
                resolution=resolution,
                note=note,
                receipt_number=receipt_number,
            )
        except OperationRefused as exc:
            self._record(
                operator=operator,
                action="resolve",
                payment_id=payment_id,
                refused=exc,
                detail=detail,
            )
            raise
        self._record(operator=operator, action="resolve", payment_id=payment_id, detail=detail)
        return done

    def plan_retry(self, payment_ids: Sequence[str]) -> RetryPlan:
        """What retrying `payment_ids` would touch, and what it would skip and why: a reason a
        retry cannot change, a bill or consumer another payment holds now (what the ledger
        would refuse at the save), or NOT_FOUND for an unknown id."""
        ids = list(dict.fromkeys(payment_ids))[:BULK_LIMIT]
        found = self._payments.get_many(ids)
        plan = plan_retry(found, self._payments)
        known = {p.id for p in found}
        missing = {i: ("NOT_FOUND", "no such payment") for i in ids if i not in known}
        return RetryPlan(eligible=plan.eligible, skipped={**plan.skipped, **missing})

    def retry_many(self, payment_ids: Sequence[str], *, operator: str) -> BulkResult:
        """Retry each of `payment_ids` a retry can help (checked again now); the rest skipped."""
        acted: list[str] = []
        skipped: dict[str, str] = {}
        for payment_id in list(dict.fromkeys(payment_ids))[:BULK_LIMIT]:
            try:
                self.retry(payment_id, operator=operator)
            except OperationRefused as exc:
                skipped[payment_id] = exc.code
            else:
                acted.append(payment_id)
        return BulkResult(acted=tuple(acted), skipped=skipped)
