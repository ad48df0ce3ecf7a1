"""Reverse reconciliation: walk DIGIT's payments of some days and flag what the ledger does not
explain.

The forward check (reconciliation.py) starts from the ledger's REGISTERED payments. This one
starts from DIGIT: for each city and module we collect in, every DIGIT payment whose
transactionDate falls on the walked days (in DIGIT_TIMEZONE), paged. A DIGIT payment is ours
when its additionalDetails carry our payment id (registration.PAYMENT_ID_KEY, stamped on every
create). Only live ones count (a cancelled or dishonoured one no longer takes anyone's money;
the forward check flags a REGISTERED payment whose DIGIT payment died). Findings:

    DUPLICATE  two or more live DIGIT payments carry the same id of ours (the consumer paid
               twice): each one the ledger did not register is flagged
    ORPHAN     a live DIGIT payment carries our id, and the ledger does not hold that payment
               as REGISTERED (it is NEEDS_ATTENTION, RESOLVED other than by this very receipt,
               or unknown): money DIGIT counts that the ledger does not
    DIFFERS    the ledger registered a payment with this id, but with another DIGIT payment, or
               other bills or amounts than DIGIT holds

Explained (no finding): the ledger's REGISTERED payment with this DIGIT payment, the same bills
and amounts; a payment RESOLVED as RECEIPTED_BY_HAND with this DIGIT payment. A PENDING payment
is not judged (its next attempt looks before creating and adopts what DIGIT holds); the report
counts them.

Findings live in the ledger (store.findings); a finding a later complete walk of the same city,
module and days no longer sees is cleared. Operators acknowledge findings with a note
(flags.py); the alert stays on while any open finding is unacknowledged.

A walk is complete only when every scope was walked to its end: a scope DIGIT will not let the
account search (`unsearchable`), a walk cut short, an error or a stop make it incomplete. A city
where the account may not create payments (`not_collectable`) holds none of ours: skipping it
leaves the walk complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Protocol

from integrator.digit.errors import (
    DigitAuthError,
    DigitError,
    DigitForbidden,
    DigitOutcomeUnknown,
    DigitUnavailable,
)
from integrator.digit.models import DigitPayment
from integrator.payments.days import day_bounds
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.reconciliation_records import DIGIT_WALK_RUN, Finding, FindingKind, Scope
from integrator.payments.registration import PAYMENT_ID_KEY

log = logging.getLogger("integrator.reconciliation.walk")

#: Errors after which the walk stops: DIGIT gives no usable answer to anyone right now.
STOP_ON = (DigitUnavailable, DigitOutcomeUnknown, DigitAuthError)
#: The resolution under which an operator closed a payment with DIGIT's receipt.
RECEIPTED_BY_HAND = "RECEIPTED_BY_HAND"
#: Ledger payments read per query while judging.
BATCH = 200


class PaymentWalk(Protocol):
    """DIGIT's payments by date (digit.client.DigitClient)."""

    def payments_between(
        self, *, tenant_id: str, module: str, start: datetime, end: datetime
    ) -> tuple[list[DigitPayment], bool]: ...

    def may_search(self, module: str, tenant_id: str) -> bool | None: ...

    def may_create(self, tenant_id: str) -> bool: ...


class LedgerRead(Protocol):
    """The ledger's payments by id (store.payments.PaymentStore)."""

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]: ...


class FindingStore(Protocol):
    """Where findings live (store.findings.FindingStore)."""

    def record(self, finding: Finding, *, at: datetime) -> bool: ...

    def clear_unseen(
        self,
        *,
        scope: Scope,
        start: datetime,
        end: datetime,
        seen: Collection[tuple[str, str]],
        at: datetime,
    ) -> int: ...


@dataclass(kw_only=True)
class WalkReport:
    """What one walk did (the job's result and the CLI's output)."""

    first_day: date
    last_day: date
    started_at: datetime
    finished_at: datetime | None = None
    scopes: list[str] = field(default_factory=list)
    unsearchable: list[str] = field(default_factory=list)
    not_collectable: list[str] = field(default_factory=list)
    digit_payments: int = 0
    ours: int = 0
    explained: int = 0
    pending: int = 0
    findings: list[Finding] = field(default_factory=list)
    new_findings: int = 0
    cleared: int = 0
    complete: bool = True
    stopped_by: str | None = None

    def count(self, kind: FindingKind) -> int:
        return sum(1 for f in self.findings if f.kind is kind)

    def summary(self) -> dict[str, Any]:
        return {
            "run": DIGIT_WALK_RUN,
            "firstDay": self.first_day.isoformat(),
            "lastDay": self.last_day.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "finished_at_epoch": self.finished_at.timestamp() if self.finished_at else None,
            "scopes": self.scopes,
            "unsearchable": self.unsearchable,
            "notCollectable": self.not_collectable,
            "digitPayments": self.digit_payments,
            "ours": self.ours,
            "explained": self.explained,
            "pending": self.pending,
            "orphans": self.count(FindingKind.ORPHAN),
            "duplicates": self.count(FindingKind.DUPLICATE),
            "differs": self.count(FindingKind.DIFFERS),
            "newFindings": self.new_findings,
            "cleared": self.cleared,
            "findings": [
                {
                    "kind": f.kind.value,
                    "digitPaymentId": f.digit_payment_id,
                    "paymentId": f.payment_id,
                    "receipts": list(f.receipt_numbers),
                    "ledgerStatus": f.ledger_status,
                }
                for f in self.findings
            ],
            "complete": self.complete,
            "stopped_by": self.stopped_by,
        }


def our_id(digit_payment: DigitPayment) -> str | None:
    """The id of ours a DIGIT payment carries (None: not made by the integrator)."""
    value = (digit_payment.additional_details or {}).get(PAYMENT_ID_KEY)
    return str(value) if value else None


def day_range(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in `tz`."""
    if last < first:
        raise ValueError("the last day is before the first")
    return day_bounds(first, last, tz)


def scopes_for(
    *,
    ledger_scopes: Sequence[tuple[str, str]],
    device_tenants: Iterable[str],
    cities_of: Callable[[str], Sequence[str]],
    modules: Iterable[str],
) -> list[Scope]:
    """The cities and modules to walk: every city the ledger collected in or a device may
    collect for (a state scope: each of its cities), each with every module we collect (a late
    or duplicated create lands in the consumer's module, whatever the ledger shows)."""
    cities = {t for t, _m in ledger_scopes if "." in t}
    wanted_modules = set(modules)
    for _t, m in ledger_scopes:
        wanted_modules.add(m)
    for tenant in device_tenants:
        cities |= {tenant} if "." in tenant else set(cities_of(tenant))
    return [Scope(tenant_id=c, module=m) for c in sorted(cities) for m in sorted(wanted_modules)]


def _lines(payment: DigitPayment) -> dict[str, Decimal]:
    return {d.bill_id: d.amount_paid for d in payment.details}


def _ledger_lines(payment: Payment) -> dict[str, Decimal]:
    return {b.bill_id: b.amount for b in payment.bills}


def judge(
    ours: Mapping[str, Sequence[DigitPayment]],
    ledger: Mapping[str, Payment],
    *,
    module_of: Mapping[str, str],
) -> tuple[list[Finding], int, int]:
    """(findings, explained, pending) for the live DIGIT payments carrying each id of ours."""
    findings: list[Finding] = []
    explained = pending = 0

    def finding(kind: FindingKind, p: DigitPayment, held: Payment | None, why: str) -> Finding:
        return Finding(
            kind=kind,
            digit_payment_id=p.id,
            payment_id=our_id(p) or "",
            tenant_id=p.tenant_id,
            business_service=module_of.get(p.id, ""),
            digit_status=p.payment_status,
            amount=p.total_amount_paid,
            receipt_numbers=tuple(d.receipt_number for d in p.details),
            bill_ids=tuple(d.bill_id for d in p.details),
            transaction_date=p.transaction_date,
            ledger_status=held.status.value if held is not None else None,
            detail={
                "why": why,
                "paidBy": p.paid_by,
                "paymentMode": p.payment_mode,
                "transactionNumber": p.transaction_number,
                "instrumentStatus": p.instrument_status,
                "lines": [
                    {
                        "billId": d.bill_id,
                        "consumerCode": d.consumer_code,
                        "receiptNumber": d.receipt_number,
                        "amountPaid": d.amount_paid,
                        "totalDue": d.total_due,
                    }
                    for d in p.details
                ],
                "ledger": (
                    {
                        "status": held.status.value,
                        "digitPaymentId": held.digit_payment_id,
                        "resolution": held.resolution,
                        "bills": {b.bill_id: b.amount for b in held.bills},
                    }
                    if held is not None
                    else None
                ),
            },
        )

    for payment_id in sorted(ours):
        live = sorted((p for p in ours[payment_id] if p.is_live), key=lambda p: p.id)
        if not live:
            continue
        held = ledger.get(payment_id)
        registered_id = held.digit_payment_id if held is not None else None
        if len(live) > 1:
            for p in live:
                registered = held is not None and held.status is PaymentStatus.REGISTERED
                if registered and p.id == registered_id:
                    continue  # the one the ledger registered; the others are the extra charges
                findings.append(
                    finding(
                        FindingKind.DUPLICATE,
                        p,
                        held,
                        f"{len(live)} live DIGIT payments carry payment id {payment_id}",
                    )
                )
            continue
        [p] = live
        if held is None:
            findings.append(
                finding(FindingKind.ORPHAN, p, None, "the ledger has no payment with this id")
            )
        elif held.status is PaymentStatus.PENDING:
            pending += 1  # its next attempt looks first and adopts this one
        elif held.status is PaymentStatus.REGISTERED:
            if registered_id and registered_id != p.id:
                findings.append(
                    finding(
                        FindingKind.DIFFERS,
                        p,
                        held,
                        f"the ledger registered DIGIT payment {registered_id}, not this one",
                    )
                )
            elif _lines(p) != _ledger_lines(held):
                findings.append(
                    finding(
                        FindingKind.DIFFERS,
                        p,
                        held,
                        "DIGIT's bills or amounts differ from the ledger's",
                    )
                )
            else:
                explained += 1
        elif (
            held.status is PaymentStatus.RESOLVED
            and held.resolution == RECEIPTED_BY_HAND
            and held.digit_payment_id == p.id
        ):
            explained += 1  # an operator closed it with this very DIGIT payment
        else:
            findings.append(
                finding(
                    FindingKind.ORPHAN,
                    p,
                    held,
                    f"DIGIT holds it but the ledger says {held.status.value}"
                    + (f" ({held.resolution})" if held.resolution else ""),
                )
            )
    return findings, explained, pending


class ReverseReconciler:
    """Walks DIGIT's payments of some days and records what the ledger does not explain."""

    def __init__(
        self,
        *,
        ledger: LedgerRead,
        digit: PaymentWalk,
        findings: FindingStore,
        clock: Callable[[], datetime],
        timezone: tzinfo,
        on_finding: Callable[[str], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._digit = digit
        self._findings = findings
        self._clock = clock
        self._tz = timezone
        self._on_finding = on_finding

    def walk(self, *, first: date, last: date, scopes: Sequence[Scope]) -> WalkReport:
        """Walk DIGIT's payments of the days `first`..`last` (DIGIT_TIMEZONE) in `scopes`."""
        start, end = day_range(first, last, self._tz)
        report = WalkReport(first_day=first, last_day=last, started_at=self._clock())
        ours: dict[str, dict[str, DigitPayment]] = {}
        module_of: dict[str, str] = {}
        walked: list[Scope] = []
        counted: set[str] = set()
        try:
            for scope in scopes:
                if not self._digit.may_create(scope.tenant_id):
                    # the account cannot create payments there: none can carry our id
                    report.not_collectable.append(str(scope))
                    continue
                if self._digit.may_search(scope.module, scope.tenant_id) is False:
                    # what DIGIT holds there is unseen: the walk cannot call itself complete
                    report.unsearchable.append(str(scope))
                    report.complete = False
                    continue
                try:
                    found, cut = self._digit.payments_between(
                        tenant_id=scope.tenant_id, module=scope.module, start=start, end=end
                    )
                except STOP_ON:
                    raise
                except DigitForbidden:
                    report.unsearchable.append(str(scope))
                    report.complete = False
                    continue
                except DigitError as exc:
                    report.complete = False
                    log.warning(
                        "reverse reconciliation could not walk a city",
                        extra={"scope": str(scope), "error": type(exc).__name__},
                    )
                    continue
                report.scopes.append(str(scope))
                if cut:
                    report.complete = False
                else:
                    walked.append(scope)
                for p in found:
                    if p.id in counted:
                        continue  # a payment of several modules is found under each
                    counted.add(p.id)
                    report.digit_payments += 1
                    pid = our_id(p)
                    if pid is None:
                        continue
                    ours.setdefault(pid, {})[p.id] = p
                    module_of[p.id] = scope.module
        except STOP_ON as exc:
            report.complete = False
            report.stopped_by = type(exc).__name__
            log.warning(
                "reverse reconciliation stopped: DIGIT gives no usable answer",
                extra={"error": type(exc).__name__},
            )
        report.ours = sum(len(v) for v in ours.values())
        ledger: dict[str, Payment] = {}
        ids = sorted(ours)
        for i in range(0, len(ids), BATCH):
            ledger.update((p.id, p) for p in self._ledger.get_many(ids[i : i + BATCH]))
        findings, report.explained, report.pending = judge(
            {k: list(v.values()) for k, v in ours.items()}, ledger, module_of=module_of
        )
        report.findings = findings
        now = self._clock()
        for f in findings:
            if self._findings.record(f, at=now):
                report.new_findings += 1
                if self._on_finding is not None:
                    self._on_finding(f.kind.value)
                log.warning(
                    "reverse reconciliation found a DIGIT payment the ledger does not explain",
                    extra={
                        "kind": f.kind.value,
                        "digit_payment_id": f.digit_payment_id,
                        "payment_id": f.payment_id,
                    },
                )
        seen = {(f.kind.value, f.digit_payment_id) for f in findings}
        if report.stopped_by is None:
            for scope in walked:
                report.cleared += self._findings.clear_unseen(
                    scope=scope, start=start, end=end, seen=seen, at=now
                )
        report.finished_at = self._clock()
        log.info(
            "reverse reconciliation finished",
            extra={
                "first_day": first.isoformat(),
                "last_day": last.isoformat(),
                "digit_payments": report.digit_payments,
                "findings": len(findings),
                "complete": report.complete,
            },
        )
        return report
