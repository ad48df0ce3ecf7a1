"""Reconciliation: do REGISTERED payments still hold in DIGIT?

Daily (and on demand) each REGISTERED payment accepted within the look-back is searched in DIGIT
by every billId it ever targeted and by its consumers' codes (per module, docs/digit.md#search):
a create DIGIT committed late, after the payment moved on to a successor bill, carries our id on a
bill the payment no longer names. Ours is the DIGIT payment whose id we stored, else the one
carrying our payment id in additionalDetails. Verdicts:

    OK           ours is live
    DUPLICATE_IN_DIGIT  two or more live DIGIT payments carry our id: the consumer paid twice
    REMITTED     ours is live but was REMITTED in DIGIT (a clerk's deposit of CASH, CHEQUE or
                 DD): billing consumes a remit like a cancellation and re-opens the dues, so
                 the consumer is billed again for money we collected (digest 13)
    CANCELLED    ours was cancelled in DIGIT          \
    DISHONOURED  ours was dishonoured (a cheque/DD)    > flagged for ops
    NOT_LIVE     ours has another dead status         |
    MISSING      DIGIT answered and holds no payment  /  of ours

A flag never changes the payment's status (REGISTERED is final): it is recorded in the flag
store (the ledger's `reconciliation_flags`) and once, when new, as a `reconciliation_flagged`
history entry. A flagged payment found live again is cleared (`reconciliation_cleared`). When
DIGIT gives no usable answer (it is down, or our login is broken) the run stops early and reports
itself incomplete: no verdict is guessed. When DIGIT refuses our account the search of one city
and module (RBAC, `DigitForbidden`), only the payments collected there go unjudged: each counts
as an error, the city and module are named in `unsearchable` (its other payments are not
searched again in this run), the run goes on and reports itself incomplete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from integrator.digit.errors import DigitAuthError, DigitError, DigitForbidden, DigitNoAnswer
from integrator.digit.models import DigitPayment
from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import ConcurrentModification, PaymentLedger
from integrator.payments.reconciliation_records import FORWARD_RUN, Scope
from integrator.payments.registration import is_ours

log = logging.getLogger("integrator.reconciliation")

ACTOR = "reconciliation"
FLAGGED_EVENT = "reconciliation_flagged"
CLEARED_EVENT = "reconciliation_cleared"
BATCH = 200
#: Errors after which the run stops: DIGIT gives no usable answer to anyone right now (it is
#: down, or our login is broken). A `DigitForbidden` concerns one city and module: the run goes on.
STOP_ON: tuple[type[DigitError], ...] = (DigitNoAnswer, DigitAuthError)


class Unsearchable(Exception):
    """DIGIT refused our account the payment search of `scope` (RBAC): the payment cannot be
    judged."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(f"DIGIT refused the payment search in {scope}")
        self.scope = scope


class Verdict(StrEnum):
    OK = "OK"
    MISSING = "MISSING"
    CANCELLED = "CANCELLED"
    DISHONOURED = "DISHONOURED"
    NOT_LIVE = "NOT_LIVE"
    DUPLICATE_IN_DIGIT = "DUPLICATE_IN_DIGIT"
    REMITTED = "REMITTED"


class PaymentSearch(Protocol):
    """DIGIT's payment search (digit.client.DigitClient)."""

    def search_payments(
        self,
        *,
        tenant_id: str,
        module: str,
        bill_ids: Sequence[str] = ...,
        consumer_codes: Sequence[str] = ...,
    ) -> list[DigitPayment]: ...


class FlagStore(Protocol):
    """Where flags live (store.reconciliation.ReconciliationStore)."""

    def flag(
        self,
        payment_id: str,
        *,
        reason: str,
        digit_payment_id: str | None,
        digit_status: str | None,
        at: datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> bool: ...

    def clear(self, payment_id: str) -> bool: ...

    def is_flagged(self, payment_id: str) -> bool: ...

    def save_last_run(self, summary: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Check:
    payment_id: str
    verdict: Verdict
    digit_payment: DigitPayment | None = None
    #: every live DIGIT payment carrying the payment's id (two or more: DUPLICATE_IN_DIGIT)
    live_ours: tuple[DigitPayment, ...] = ()


@dataclass(kw_only=True)
class RunReport:
    """What one run did (also saved as the last run's summary, for ops and /metrics)."""

    started_at: datetime
    finished_at: datetime | None = None
    checked: int = 0
    healthy: int = 0
    newly_flagged: list[str] = field(default_factory=list)
    still_flagged: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    errors: int = 0
    #: the cities and modules ("tenant/module") whose payment search DIGIT refused our account
    unsearchable: list[str] = field(default_factory=list)
    complete: bool = True
    stopped_by: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "run": FORWARD_RUN,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "finished_at_epoch": self.finished_at.timestamp() if self.finished_at else None,
            "checked": self.checked,
            "healthy": self.healthy,
            "newly_flagged": self.newly_flagged,
            "still_flagged": self.still_flagged,
            "cleared": self.cleared,
            "errors": self.errors,
            "unsearchable": self.unsearchable,
            "complete": self.complete,
            "stopped_by": self.stopped_by,
        }


def verdict_for(
    payment: Payment, found: Sequence[DigitPayment]
) -> tuple[Verdict, DigitPayment | None]:
    """Judge `payment` from what DIGIT's searches (by its bills and consumers) returned."""
    carrying = {p.id: p for p in found if is_ours(p, payment.id)}
    live_ours = sorted((p for p in carrying.values() if p.is_live), key=lambda p: p.id)
    if len(live_ours) > 1:
        # the flag names the extra one: not the DIGIT payment the ledger registered
        extra = [p for p in live_ours if p.id != payment.digit_payment_id]
        return Verdict.DUPLICATE_IN_DIGIT, extra[0]
    ours = [p for p in found if payment.digit_payment_id and p.id == payment.digit_payment_id]
    ours = ours or list(carrying.values())
    if not ours:
        return Verdict.MISSING, None
    live = [p for p in ours if p.is_live]
    if live:
        if _remitted_by_hand(live[0]):
            return Verdict.REMITTED, live[0]
        return Verdict.OK, live[0]
    dead = ours[0]
    statuses = {(dead.payment_status or "").upper(), (dead.instrument_status or "").upper()}
    if "DISHONOURED" in statuses:
        return Verdict.DISHONOURED, dead
    if "CANCELLED" in statuses:
        return Verdict.CANCELLED, dead
    return Verdict.NOT_LIVE, dead


#: Modes DIGIT creates APPROVED; a REMIT moves them to REMITTED / DEPOSITED (digest 13). The
#: others (ONLINE, CARD, ...) are REMITTED at creation, which is no sign of anything.
_REMITTABLE_MODES = frozenset({"CASH", "CHEQUE", "DD"})


def _remitted_by_hand(payment: DigitPayment) -> bool:
    if (payment.payment_mode or "").upper() not in _REMITTABLE_MODES:
        return False
    return (payment.instrument_status or "").upper() == "REMITTED" or (
        payment.payment_status or ""
    ).upper() == "DEPOSITED"


def search_everywhere(digit: PaymentSearch, payment: Payment) -> list[DigitPayment]:
    """Every DIGIT payment on a bill `payment` ever targeted, or of one of its consumers,
    searched per module (an employee must name the module, docs/digit.md#search); each found
    once. Raises `Unsearchable` naming the city and module whose search DIGIT refused us."""
    modules: dict[str, str] = {}
    for bill in payment.bills:
        modules[bill.bill_id] = bill.business_service
        if bill.retargeted_from:
            modules[bill.retargeted_from] = bill.business_service
    # every targeted id came from one of the bills above (re-targeting keeps the origin)
    fallback = payment.bills[0].business_service
    bills_by_module: dict[str, set[str]] = {}
    for bill_id in payment.targeted_bill_ids | set(payment.bill_ids):
        bills_by_module.setdefault(modules.get(bill_id, fallback), set()).add(bill_id)
    consumers_by_module: dict[str, set[str]] = {}
    for bill in payment.bills:
        consumers_by_module.setdefault(bill.business_service, set()).add(bill.consumer_code)
    found: dict[str, DigitPayment] = {}
    searches: list[tuple[str, list[str], list[str]]] = [
        (m, sorted(ids), []) for m, ids in sorted(bills_by_module.items())
    ]
    searches += [(m, [], sorted(codes)) for m, codes in sorted(consumers_by_module.items())]
    for module, bill_ids, codes in searches:
        try:
            answer = digit.search_payments(
                tenant_id=payment.tenant_id, module=module, bill_ids=bill_ids, consumer_codes=codes
            )
        except DigitForbidden as exc:
            raise Unsearchable(Scope(tenant_id=payment.tenant_id, module=module)) from exc
        for p in answer:
            found.setdefault(p.id, p)
    return list(found.values())


def scopes_of(payment: Payment) -> set[Scope]:
    """The cities and modules `search_everywhere` searches for `payment`."""
    return {Scope(tenant_id=payment.tenant_id, module=b.business_service) for b in payment.bills}


class Reconciler:
    """Checks REGISTERED payments against DIGIT and flags the ones that no longer hold."""

    def __init__(
        self,
        *,
        payments: PaymentLedger,
        digit: PaymentSearch,
        flags: FlagStore,
        clock: Callable[[], datetime],
        on_flag: Callable[[str], None] | None = None,
    ) -> None:
        self._payments = payments
        self._digit = digit
        self._flags = flags
        self._clock = clock
        self._on_flag = on_flag

    def check(self, payment: Payment) -> Check:
        """Search DIGIT for `payment` (raises DigitError when DIGIT does not answer, Unsearchable
        when it refuses us the search)."""
        found = search_everywhere(self._digit, payment)
        verdict, digit_payment = verdict_for(payment, found)
        return Check(
            payment_id=payment.id,
            verdict=verdict,
            digit_payment=digit_payment,
            live_ours=tuple(p for p in found if is_ours(p, payment.id) and p.is_live),
        )

    def reconcile_one(self, payment: Payment, report: RunReport) -> Check:
        """Check one payment and record the outcome (flag, keep, or clear)."""
        result = self.check(payment)
        report.checked += 1
        now = self._clock()
        if result.verdict is Verdict.OK:
            report.healthy += 1
            if self._flags.clear(payment.id):
                report.cleared.append(payment.id)
                self._record(
                    payment.id,
                    CLEARED_EVENT,
                    reason="live in DIGIT again",
                    detail=self._detail(payment, result),
                )
            return result
        digit = result.digit_payment
        new = self._flags.flag(
            payment.id,
            reason=result.verdict.value,
            digit_payment_id=digit.id if digit else payment.digit_payment_id,
            digit_status=(digit.payment_status if digit else None),
            at=now,
            detail=self._detail(payment, result),
        )
        if new:
            report.newly_flagged.append(payment.id)
            self._record(
                payment.id,
                FLAGGED_EVENT,
                reason=result.verdict.value,
                detail=self._detail(payment, result),
            )
            if self._on_flag is not None:
                self._on_flag(result.verdict.value)
            log.warning(
                "reconciliation flagged a payment",
                extra={"payment_id": payment.id, "verdict": result.verdict.value},
            )
        else:
            report.still_flagged.append(payment.id)
        return result

    def run(self, *, lookback: timedelta, limit: int | None = None) -> RunReport:
        """Reconcile the REGISTERED payments accepted within `lookback`, newest first."""
        report = RunReport(started_at=self._clock())
        cutoff = report.started_at - lookback
        seen: set[str] = set()
        refused: set[Scope] = set()
        offset = 0
        try:
            while limit is None or report.checked < limit:
                ids = self._payments.ids_by_status(
                    PaymentStatus.REGISTERED, offset=offset, limit=BATCH
                )
                offset += len(ids)
                batch = self._payments.get_many([i for i in ids if i not in seen])
                for payment in batch:
                    seen.add(payment.id)
                    if payment.status is not PaymentStatus.REGISTERED:
                        continue
                    if payment.created_at < cutoff:
                        ids = []  # newest first: everything after this is older
                        break
                    if limit is not None and report.checked >= limit:
                        break
                    if scopes_of(payment) & refused:
                        report.errors += 1  # refused earlier in this run: not asked again
                        continue
                    try:
                        self.reconcile_one(payment, report)
                    except STOP_ON:
                        raise
                    except Unsearchable as exc:
                        report.errors += 1
                        report.complete = False
                        if exc.scope not in refused:
                            refused.add(exc.scope)
                            report.unsearchable.append(str(exc.scope))
                        log.warning(
                            "reconciliation may not search a city and module",
                            extra={"payment_id": payment.id, "scope": str(exc.scope)},
                        )
                    except DigitError as exc:
                        report.errors += 1
                        log.warning(
                            "reconciliation could not check a payment",
                            extra={"payment_id": payment.id, "error": type(exc).__name__},
                        )
                if len(ids) < BATCH:
                    break
        except STOP_ON as exc:
            report.complete = False
            report.stopped_by = type(exc).__name__
            log.warning(
                "reconciliation stopped: DIGIT gives no usable answer",
                extra={"error": type(exc).__name__},
            )
        report.finished_at = self._clock()
        self._flags.save_last_run(report.summary())
        log.info(
            "reconciliation finished",
            extra={
                "checked": report.checked,
                "flagged": len(report.newly_flagged),
                "cleared": len(report.cleared),
                "complete": report.complete,
                "unsearchable": report.unsearchable,
            },
        )
        return report

    # --- the payment's history ---

    @staticmethod
    def _detail(payment: Payment, result: Check) -> dict[str, Any]:
        digit = result.digit_payment
        return {
            "verdict": result.verdict.value,
            "digitPaymentId": digit.id if digit else payment.digit_payment_id,
            "digitStatus": digit.payment_status if digit else None,
            "instrumentStatus": digit.instrument_status if digit else None,
            "billIds": list(payment.bill_ids),
            "liveDigitPayments": [
                {
                    "id": p.id,
                    "receipts": [d.receipt_number for d in p.details],
                    "billIds": [d.bill_id for d in p.details],
                    "amount": p.total_amount_paid,
                }
                for p in result.live_ours
            ],
        }

    def _record(
        self, payment_id: str, event: str, *, reason: str, detail: Mapping[str, Any]
    ) -> None:
        """Append a history entry (status unchanged); retried when the payment moved meanwhile."""
        for _ in range(3):
            payment = self._payments.get(payment_id)
            if payment is None:
                return
            try:
                self._payments.save(
                    states.record(
                        payment, event, actor=ACTOR, at=self._clock(), reason=reason, detail=detail
                    ),
                    fence=None,
                )
                return
            except ConcurrentModification:
                continue
        log.warning("could not record reconciliation history", extra={"payment_id": payment_id})
