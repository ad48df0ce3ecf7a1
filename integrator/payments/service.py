"""The PoS use cases (`PaymentUseCases`): bills, payment checks, acceptance and receipts.

Acceptance is where money changes hands, so its order is deliberate:
1. claim the (device, Idempotency-Key) pair for this request's fingerprint (replays and reuse of a
   key for another body are answered here, before DIGIT is asked anything);
2. check everything we can know without asking DIGIT again (schema already checked at the edge):
   amounts against the MDMS rules, modes, instruments, and each bill as we served it to a device
   within SERVED_BILL_TRUST_SECONDS (payable, whole total). A bill not served that recently is
   re-read from DIGIT by id; if DIGIT cannot be reached, an older snapshot (SNAPSHOT_MAX_AGE)
   vouches for it and the payment is `provisional`; with neither, DigitUnreachable and nothing is
   stored. What DIGIT itself validates on create (already paid, expired, amounts, modes) is left
   to the create: asking first would cost the device a DIGIT round trip per check. An offline
   upload (no create follows at once; the money was taken long ago) is checked against DIGIT as
   it is now instead: each bill re-read, its consumer's newest bill, DIGIT's payments for it;
3. commit the payment, its bills, its idempotency record and its consumer and bill claims in one
   ledger transaction (the constraints refuse a second open payment for a consumer or a bill);
4. run the one registration path inline within the budget: REGISTERED -> 201; DIGIT refused the
   create while the device waits -> the refusal (422, the payment closed as REFUSED, nothing
   registered; `first_create`); anything else -> 202, and a registration job takes it over once
   the inline attempt's lease has run out. A payment accepted on a snapshot (DIGIT gave no usable
   answer a moment ago) is answered 202 at once and its job enqueued at once. A lost job is
   repaired by the worker's sweeper, which re-enqueues every PENDING payment without one.

The budget (`REGISTRATION_BUDGET_SECONDS`) is one deadline for the whole request, taken when it
arrives and passed to every DIGIT call of steps 2 and 4: a bill re-read cut by it is "no usable
answer" (snapshots, or DigitUnreachable with nothing stored), and the inline registration gets
only what is left of it, so a slow DIGIT can never stretch the answer past the budget plus the
ledger's own work.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from integrator.digit.errors import NO_USABLE_ANSWER
from integrator.digit.models import Bill, PaymentRule
from integrator.payments import rules, states
from integrator.payments.cash_records import OfflineArrival
from integrator.payments.devices import Device
from integrator.payments.events import NO_PAYMENT_OBSERVER, PaymentObserver
from integrator.payments.first_create import DeviceWaiting, refusal_from_history
from integrator.payments.models import (
    ConsumerKey,
    HistoryEntry,
    Payment,
    PaymentBill,
    PaymentError,
    PaymentRejected,
    PaymentStatus,
    Violation,
)
from integrator.payments.outage_hold import OutageHold
from integrator.payments.ports import (
    BillSnapshots,
    ClaimOutcome,
    ClaimResult,
    CreateOutcome,
    DigitGateway,
    IdempotencyClaims,
    Leases,
    OpenMarks,
    PaymentLedger,
    ServedBillLog,
)
from integrator.payments.receipt_service import ReceiptService
from integrator.payments.registration import AttemptResult, Registrar
from integrator.payments.use_cases import (
    AcceptOutcome,
    BillOffer,
    DigitUnreachable,
    IdempotencyKeyReused,
    LedgerUnavailable,
    MobileBills,
    PaymentInProgress,
    PaymentNotFound,
    PaymentRequest,
    PendingPayment,
    Receipt,
    RequestInFlight,
)
from integrator.settings import Settings

log = logging.getLogger("integrator.payments")

#: DIGIT failures after which a check falls back to bill snapshots (no usable answer).
NO_ANSWER = NO_USABLE_ANSWER

#: The refusal (and the bills' not-payable reason) for a city where our account may not collect.
TENANT_NOT_COLLECTABLE = "TENANT_NOT_COLLECTABLE"
#: The account holds no role that lets it search the module's payments in the city (WS_CEMP,
#: SW_CEMP: digest §2.6): a create DIGIT did not answer could never be looked up, by us or by a
#: person resolving it, so no such payment is taken.
SERVICE_NOT_COLLECTABLE = "SERVICE_NOT_COLLECTABLE"

#: After DIGIT gave no usable answer, how long this process checks payments against bill
#: snapshots only and hands them to the worker, before one payment asks DIGIT again
#: (payments/outage_hold.py).
OUTAGE_HOLD_SECONDS = 2.0

#: Retry-After (seconds) when DIGIT cannot vouch for a bill and no snapshot can.
DIGIT_RETRY_AFTER = 30


class RegistrationScheduler(Protocol):
    """Where the service hands payments to the worker (implemented in integrator.jobs)."""

    def schedule(self, payment_id: str, *, delay_seconds: float) -> None: ...

    def schedule_new(self, payment_id: str, *, delay_seconds: float) -> None:
        """The first job of a payment just committed (none can exist yet)."""
        ...


@dataclass(frozen=True, kw_only=True)
class _Checked:
    offers: list[BillOffer]
    provisional: bool


class _OutOfTime(Exception):
    """DIGIT's checks were cut by the request's budget (slow, not down)."""


#: Of a GET /v1/bills's budget, what is kept for our own work after DIGIT's answer (measured: tens
#: of ms; the rest is headroom for a loaded machine).
BILLS_ANSWER_RESERVE_SECONDS = 0.5


def new_payment_id() -> str:
    """Our payment id: unguessable (the store indexes payments by time)."""
    return "pay_" + secrets.token_hex(12)


def new_payment(
    *,
    device: Device,
    key: str,
    fingerprint: str,
    request: PaymentRequest,
    bills: Sequence[Bill],
    now: datetime,
    reason: str,
    provisional: bool = False,
) -> Payment:
    """A device's payment request as the ledger first records it: PENDING, each of `bills` (in
    the request's order) with the amount the request pays on it, and the history entry
    "accepted" for `reason`."""
    amounts = {line.bill_id: line.amount for line in request.bills}
    return Payment(
        id=new_payment_id(),
        device_id=device.id,
        idempotency_key=key,
        fingerprint=fingerprint,
        status=PaymentStatus.PENDING,
        provisional=provisional,
        tenant_id=request.tenant_id,
        payment_mode=request.payment_mode.upper(),
        paid_by=request.paid_by,
        payer_name=request.payer_name,
        mobile_number=request.mobile_number,
        instrument_number=request.instrument_number,
        instrument_date=request.instrument_date,
        transaction_number=request.transaction_number,
        collected_at=request.collected_at,
        bills=tuple(
            PaymentBill(
                bill_id=bill.id,
                bill_number=bill.bill_number,
                consumer_code=bill.consumer_code,
                business_service=bill.business_service,
                amount=amounts[bill.id],
                total_due=bill.total_amount,
            )
            for bill in bills
        ),
        created_at=now,
        history=(
            HistoryEntry(
                at=now,
                actor=f"device:{device.id}",
                event="accepted",
                to_status=PaymentStatus.PENDING,
                reason=reason,
            ),
        ),
    )


class PaymentService:
    """Implements `integrator.payments.use_cases.PaymentUseCases`."""

    def __init__(
        self,
        *,
        settings: Settings,
        digit: DigitGateway,
        payments: PaymentLedger,
        idempotency: IdempotencyClaims,
        leases: Leases,
        snapshots: BillSnapshots,
        served: ServedBillLog,
        registrar: Registrar,
        scheduler: RegistrationScheduler,
        receipts: ReceiptService,
        clock: Callable[[], datetime],
        observer: PaymentObserver = NO_PAYMENT_OBSERVER,
    ) -> None:
        self._settings = settings
        self._observer = observer
        self._digit = digit
        self._payments = payments
        self._idempotency = idempotency
        self._leases = leases
        self._snapshots = snapshots
        self._served = served
        self._registrar = registrar
        self._scheduler = scheduler
        self._receipts = receipts
        self._clock = clock
        self._outage = OutageHold(OUTAGE_HOLD_SECONDS)  # see _current_bills
        self._inline = ThreadPoolExecutor(max_workers=64, thread_name_prefix="register-inline")
        self._lock = threading.Lock()

    # --- bills ---

    def bills_for_consumer(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        consumer_code: str,
        open_marks: OpenMarks | None = None,
    ) -> list[BillOffer]:
        self._require_known_service(business_service)
        # Within BILLS_DEADLINE_SECONDS, like a lookup by mobile: a DIGIT too slow for that is
        # DigitUnavailable (503 with Retry-After) rather than a device left waiting.
        bills = self._digit.fetch_bills(
            tenant_id=tenant_id,
            business_service=business_service,
            consumer_code=consumer_code,
            deadline=self._bills_deadline(),
        )
        return self._offers(bills, device, open_marks)

    def bills_for_mobile(
        self, *, device: Device, tenant_id: str, mobile_number: str, business_service: str | None
    ) -> MobileBills:
        if business_service is not None:
            self._require_known_service(business_service)
        found = self._digit.mobile_lookup(
            tenant_id=tenant_id,
            mobile_number=mobile_number,
            business_service=business_service,
            deadline=self._bills_deadline(),
        )
        if found.failed_tenants:
            log.warning(
                "bills by mobile: some cities could not be searched",
                extra={"tenants": list(found.failed_tenants)},
            )
        # A state-scoped search may find consumers in cities this device may not act for.
        offers = self._offers([b for b in found.bills if device.may_act_for(b.tenant_id)], device)
        unsearched = tuple(t for t in found.failed_tenants if device.may_act_for(t))
        return MobileBills(offers=offers, unsearched_tenants=unsearched)

    def _require_known_service(self, business_service: str) -> None:
        """INVALID_BUSINESS_SERVICE for a code outside COLLECTABLE_SERVICES: DIGIT would answer
        "no bills" for it (its codes are case-sensitive: `pt` is not `PT`), which a device would
        read as nothing due."""
        known = tuple(self._settings.collectable_services)
        if business_service in known:
            return
        upper = business_service.upper()
        message = (
            f"businessService codes are upper case: send {upper}, not {business_service}"
            if upper in known
            else f"{business_service} is not a businessService collected here "
            f"(one of {', '.join(known)})"
        )
        raise PaymentRejected(
            [Violation(code="INVALID_BUSINESS_SERVICE", field="businessService", message=message)]
        )

    def _bills_deadline(self) -> float:
        """When DIGIT's part of a GET /v1/bills must be done: BILLS_DEADLINE_SECONDS from now,
        less what the rest of the answer needs (rules, the ledger's pending payments, the
        snapshots, the JSON), so the device hears back within the setting itself."""
        return time.monotonic() + max(
            self._settings.bills_deadline_seconds - BILLS_ANSWER_RESERVE_SECONDS,
            self._settings.bills_deadline_seconds / 2,
        )

    def _offers(
        self, bills: Sequence[Bill], device: Device, open_marks: OpenMarks | None = None
    ) -> list[BillOffer]:
        # payment rules as collection-services reads them: with the bill's city tenant
        cities = sorted({b.tenant_id for b in bills})
        rules_by_city = {city: self._digit.payment_rules(city) for city in cities}
        collectable = {city: self._digit.may_create(city) for city in cities}
        unsearchable = self._unsearchable({(b.business_service, b.tenant_id) for b in bills})
        # A snapshot of every bill served (the fallback check while DIGIT is down), and our
        # open payment for each bill's consumer, from the ledger: asked only about the consumers
        # the snapshot call found marked (most have no open payment).
        may_be_pending = self._served.record(bills, self._clock(), open_marks)
        pending = self._pending_payments(bills, device, may_be_pending)
        return [
            BillOffer(
                bill=bill,
                payability=rules.payability(
                    bill,
                    rules_by_city[bill.tenant_id].get(bill.business_service)
                    or _strict_rule(bill.business_service),
                    advance_cap=self._settings.advance_cap,
                ),
                pending_payment=pending[i],
                not_payable_reason=(
                    TENANT_NOT_COLLECTABLE
                    if not collectable[bill.tenant_id]
                    else SERVICE_NOT_COLLECTABLE
                    if (bill.business_service, bill.tenant_id) in unsearchable
                    else None
                ),
            )
            for i, bill in enumerate(bills)
        ]

    def _unsearchable(self, scopes: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (module, city) pairs whose payments our account certainly cannot search, or that
        DIGIT's MDMS answer for the city does not list (`DigitGateway.may_search`). Nothing
        is refused on this while the roles are not known (DIGIT decides then) or where the
        deployment's mapping does not say which roles search a module (DIGIT_SEARCH_ROLE_CODES)."""
        if not self._digit.roles():
            return set()
        return {scope for scope in scopes if self._digit.may_search(*scope) is False}

    def _pending_payments(
        self, bills: Sequence[Bill], device: Device, may_be_pending: Sequence[bool] | None = None
    ) -> list[PendingPayment | None]:
        """For each bill, our open payment for its consumer: one ledger query for all, or only
        for those `may_be_pending` flags (none when no bill is flagged)."""
        asked = [i for i in range(len(bills)) if may_be_pending is None or may_be_pending[i]]
        if not asked:
            return [None] * len(bills)
        holders = self._payments.pending_for_consumers(
            [(bills[i].tenant_id, bills[i].business_service, bills[i].consumer_code) for i in asked]
        )
        ids: list[str | None] = [None] * len(bills)
        for i, holder in zip(asked, holders, strict=True):
            ids[i] = holder
        return self._pending_by_ids(ids, device)

    def _pending_by_ids(
        self, ids: Sequence[str | None], device: Device
    ) -> list[PendingPayment | None]:
        """The unfinished payments `ids` name (None where none), read in one go."""
        found = self._payments.get_many([i for i in ids if i])
        by_id = {p.id: p for p in found}
        return [
            PendingPayment(
                id=by_id[i].id,
                status=by_id[i].status.value,
                by_this_device=by_id[i].device_id == device.id,
            )
            if i and i in by_id
            else None
            for i in ids
        ]

    # --- checking a payment ---

    def validate_payment(self, *, device: Device, request: PaymentRequest) -> list[BillOffer]:
        """What POST /v1/payments would answer, without storing anything: its checks, then the
        refusals its ledger insert would give (a consumer's open payment: PaymentInProgress; a
        bill the ledger already holds a live payment for, open or REGISTERED: BILL_ALREADY_PAID)."""
        deadline = time.monotonic() + self._settings.registration_budget_seconds
        offers = self._check(request, device, deadline).offers
        taken = self._payments.live_payment_for_bills([o.bill.id for o in offers])
        for i, line in enumerate(request.bills):
            if line.bill_id in taken:
                # what acceptance answers when the ledger's constraint refuses the bill
                raise PaymentRejected([_bill_recorded(i, line.bill_id)])
        return offers

    def _check(
        self,
        request: PaymentRequest,
        device: Device,
        deadline: float | None = None,
        *,
        at_counter: bool = True,
        look_for_pending: bool = True,
    ) -> _Checked:
        """Every check before money is taken; DIGIT's parts done by `deadline`
        (time.monotonic()) when given. `at_counter`: the device waits and DIGIT's create follows
        at once, so a bill served moments ago is taken as served and what DIGIT validates on
        create is left to it; otherwise (an offline upload) DIGIT is asked now. An acceptance
        skips `look_for_pending`: its transaction's constraints answer the same question."""
        self._require_collectable(request.tenant_id)
        now = self._clock()
        violations: list[Violation] = []
        for i, line in enumerate(request.bills):
            violations += rules.check_amount_shape(f"bills[{i}].amount", line.amount)
        violations += rules.check_instrument(
            request.payment_mode,
            request.instrument_number,
            request.instrument_date,
            request.transaction_number,
            today=rules.local_today(now, self._settings.digit_timezone),
        )
        bills, provisional = self._current_bills(request, now, deadline, trust_served=at_counter)
        payment_rules = self._digit.payment_rules(request.tenant_id)
        offers: list[BillOffer] = []
        margin = timedelta(seconds=self._settings.bill_expiry_margin_seconds)
        mode_rules: list[PaymentRule] = []
        for i, line in enumerate(request.bills):
            field = f"bills[{i}].billId"
            bill = bills.get(line.bill_id)
            if bill is None or bill.tenant_id != request.tenant_id:
                violations.append(
                    Violation(
                        code="BILL_NOT_FOUND",
                        field=field,
                        message=f"no bill {line.bill_id} in {request.tenant_id}",
                    )
                )
                continue
            if self._unsearchable({(bill.business_service, bill.tenant_id)}):
                violations.append(
                    Violation(
                        code="SERVICE_NOT_COLLECTABLE",
                        field=field,
                        message=f"{bill.business_service} payments are not collected in "
                        f"{bill.tenant_id}: DIGIT's master data (MDMS) for the city has no such "
                        "business service, or the integrator's account holds no role there that "
                        "searches them (one DIGIT did not answer could never be checked)",
                    )
                )
                continue
            rule = payment_rules.get(bill.business_service) or _strict_rule(bill.business_service)
            mode_rules.append(rule)
            refused = rules.check_bill_payable(bill, now=now, margin=margin, field=field)
            if refused is not None:
                violations.append(refused)
                continue
            payability = rules.payability(bill, rule, advance_cap=self._settings.advance_cap)
            if not rules.check_amount_shape(f"bills[{i}].amount", line.amount):
                violations += rules.check_amount(f"bills[{i}].amount", line.amount, payability)
            offers.append(BillOffer(bill=bill, payability=payability))
        if look_for_pending:
            pending = self._pending_payments([o.bill for o in offers], device)
            offers = [replace(o, pending_payment=p) for o, p in zip(offers, pending, strict=True)]
        violations += rules.check_mode(request.payment_mode, mode_rules)
        if not at_counter and not provisional and offers and not violations:
            # Uploaded later (offline): the money was taken long ago and no create follows at
            # once, so what DIGIT knows now (superseded, paid elsewhere) decides here.
            try:
                violations += self._digit_side_checks(request, [o.bill for o in offers], deadline)
            except _OutOfTime:
                log.warning("DIGIT too slow to finish a payment's checks; accepting provisionally")
                provisional = True
        if violations:
            raise PaymentRejected(violations)
        for offer in offers:
            pending_payment = offer.pending_payment
            if pending_payment is not None:
                raise PaymentInProgress(
                    pending_payment.id if pending_payment.by_this_device else None,
                    bill_id=offer.bill.id,
                )
        return _Checked(offers=offers, provisional=provisional)

    def _require_collectable(self, tenant_id: str) -> None:
        """Refuse, before anything is stored or sent, a payment in a city where DIGIT would not
        let our account record it (no role there granting payments/_create, or no MDMS data for
        the city: `DigitGateway.may_create`): the collector must not take money that cannot be
        registered. The roles come with the shared token; when none is known yet we log in once
        to learn them. If DIGIT cannot be reached for that, the
        check is left to DIGIT (a 403 on create ends as DIGIT_FORBIDDEN for a person)."""
        if not self._digit.roles():
            try:
                self._digit.reload_roles()
            except NO_ANSWER:
                return
        if not self._digit.may_create(tenant_id):
            raise PaymentRejected(
                [
                    Violation(
                        code="TENANT_NOT_COLLECTABLE",
                        field="tenantId",
                        message=f"payments cannot be recorded in DIGIT for {tenant_id}: the "
                        "integrator's account holds no role there that allows it, or DIGIT has "
                        "no master data (MDMS) for the city",
                    )
                ]
            )

    def _current_bills(
        self,
        request: PaymentRequest,
        now: datetime,
        deadline: float | None = None,
        *,
        trust_served: bool = True,
    ) -> tuple[dict[str, Bill], bool]:
        """Each requested bill as we served it within SERVED_BILL_TRUST_SECONDS; else re-read
        from DIGIT by id, or (DIGIT unreachable) from older snapshots (provisional).

        A bill served a moment ago is what the device showed the payer; DIGIT's create checks
        what may have changed since (paid elsewhere, expired), so asking DIGIT here would only
        add a round trip to the receipt. After DIGIT gave no usable answer, this process goes to
        the snapshots for OUTAGE_HOLD_SECONDS, then one payment probes (OutageHold): during an
        outage every device would otherwise spend a failing DIGIT call per payment, and DIGIT
        would get a burst when it comes back. A DIGIT too slow to answer by the request's
        deadline counts as giving no usable answer: for a device at the counter it is the same
        outage."""
        ids = [line.bill_id for line in request.bills]
        served = self._served_moments_ago(ids, now) if trust_served else None
        if served is not None:
            return served, False
        if self._outage.may_ask():
            try:
                found = self._digit.search_bills(
                    tenant_id=request.tenant_id, bill_ids=ids, deadline=deadline
                )
                self._outage.answered()
                return {b.id: b for b in found}, False
            except NO_ANSWER as exc:
                self._outage.no_answer()
                log.warning(
                    "DIGIT unreachable while checking a payment; trying snapshots",
                    extra={"error": type(exc).__name__},
                )
        snapshots = self._snapshots_within(ids, self._settings.snapshot_max_age_seconds, now)
        if snapshots is None:
            raise DigitUnreachable(retry_after=DIGIT_RETRY_AFTER)
        return snapshots, True

    def _served_moments_ago(self, bill_ids: Sequence[str], now: datetime) -> dict[str, Bill] | None:
        """Every bill as served within SERVED_BILL_TRUST_SECONDS, or None if one was not.

        A bill served before a newer bill of its consumer was served is refused here: the
        device was shown the newer one (DIGIT's create would take the old one, since it checks
        a bill's expiry date, not its status)."""
        seconds = self._settings.served_bill_trust_seconds
        if seconds <= 0:
            return None
        served = self._snapshots.served(bill_ids, max_age=timedelta(seconds=seconds), now=now)
        if len(served) < len(set(bill_ids)):
            return None
        superseded = [
            Violation(
                code="BILL_SUPERSEDED",
                field=f"bills[{i}].billId",
                message=f"bill {bill_id} was replaced by {served[bill_id].superseded_by}; "
                "fetch again",
            )
            for i, bill_id in enumerate(bill_ids)
            if served[bill_id].superseded_by is not None
        ]
        if superseded:
            raise PaymentRejected(superseded)
        return {bill_id: found.bill for bill_id, found in served.items()}

    def _snapshots_within(
        self, bill_ids: Sequence[str], seconds: float, now: datetime
    ) -> dict[str, Bill] | None:
        """Every bill as served within `seconds` of `now`, or None if one was not."""
        if seconds <= 0:
            return None
        max_age = timedelta(seconds=seconds)
        found: dict[str, Bill] = {}
        for bill_id in bill_ids:
            snapshot = self._snapshots.get(bill_id, max_age=max_age, now=now)
            if snapshot is None:
                return None
            found[bill_id] = snapshot
        return found

    def _digit_side_checks(
        self, request: PaymentRequest, bills: Sequence[Bill], deadline: float | None = None
    ) -> list[Violation]:
        """BILL_SUPERSEDED and BILL_ALREADY_PAID: both need DIGIT (a lag-proof paid check), by
        `deadline` when given."""
        field_of = {line.bill_id: f"bills[{i}].billId" for i, line in enumerate(request.bills)}
        by_service: dict[str, list[Bill]] = {}
        for bill in bills:
            by_service.setdefault(bill.business_service, []).append(bill)
        violations: list[Violation] = []
        try:
            for service, group in sorted(by_service.items()):
                latest = {
                    b.consumer_code: b
                    for b in self._digit.search_bills(
                        tenant_id=request.tenant_id,
                        business_service=service,
                        consumer_codes=sorted({b.consumer_code for b in group}),
                        deadline=deadline,
                    )
                }
                for bill in group:
                    newest = latest.get(bill.consumer_code)
                    if newest is not None and newest.id != bill.id:
                        violations.append(
                            Violation(
                                code="BILL_SUPERSEDED",
                                field=field_of[bill.id],
                                message=f"bill {bill.id} was replaced by {newest.id}; fetch again",
                            )
                        )
                # DIGIT's back-update lags: a paid bill still looks ACTIVE for a while
                # (docs/digit.md#back-update)
                paid = self._digit.search_payments(
                    tenant_id=request.tenant_id,
                    module=service,
                    bill_ids=[b.id for b in group],
                    deadline=deadline,
                )
                # a reversed payment's bill is dead too: DIGIT's UNIQUE(billId) refuses it for
                # good and the dues come back as a new bill (digest 13)
                holders = {d.bill_id: p for p in paid for d in p.details}
                for bill in group:
                    holder = holders.get(bill.id)
                    if holder is not None:
                        violations.append(
                            Violation(
                                code="BILL_ALREADY_PAID",
                                field=field_of[bill.id],
                                message=f"DIGIT already holds a payment for bill {bill.id}"
                                if holder.is_live
                                else f"bill {bill.id} was paid and the payment reversed; DIGIT "
                                "never takes it again: fetch the consumer's bills",
                            )
                        )
        except NO_ANSWER as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise _OutOfTime from exc
            # The bill itself was read a moment ago; without these checks we cannot accept:
            # nothing is stored yet.
            raise DigitUnreachable(retry_after=DIGIT_RETRY_AFTER) from exc
        return violations

    # --- accepting a payment ---

    def accept_payment(
        self,
        *,
        device: Device,
        idempotency_key: str,
        request: PaymentRequest,
        register_inline: bool = True,
        offline: OfflineArrival | None = None,
    ) -> AcceptOutcome:
        """`PaymentUseCases.accept_payment`; `register_inline=False` leaves registration to the
        worker. `offline` (an offline upload): the key is bound to the request the device sent
        (`offline.request_fingerprint`, which `request` may differ from once moved onto a
        successor bill), and the payment's offline mark is written with it, in one transaction:
        a re-upload of what the device sent replays the payment, whatever happened between."""
        # The request's budget starts now and covers every DIGIT call below (see the module doc).
        deadline = time.monotonic() + self._settings.registration_budget_seconds
        fingerprint = (
            offline.request_fingerprint
            if offline is not None
            else rules.fingerprint(canonical(request))
        )
        now = self._clock()
        claim = self._idempotency.claim(device.id, idempotency_key, fingerprint, now=now)
        if claim.outcome is not ClaimOutcome.NEW:
            return self._answer_for_earlier(claim)
        inline = False
        try:
            try:
                checked = self._check(
                    request, device, deadline, at_counter=register_inline, look_for_pending=False
                )
            except PaymentError:
                # A new key's claim does not read the ledger (store/idempotency.py): the key may
                # have made this payment long ago, whose bill is paid by now by that very payment.
                # The device repeating it hears the payment, not a refusal.
                earlier = self._idempotency.bound(device.id, idempotency_key, fingerprint)
                if earlier is None:
                    raise
                self._idempotency.release(device.id, idempotency_key, claim.token)
                return self._answer_for_earlier(earlier)
            payment = new_payment(
                device=device,
                key=idempotency_key,
                fingerprint=fingerprint,
                request=request,
                bills=[o.bill for o in checked.offers],
                now=self._clock(),
                reason="provisional" if checked.provisional else "checked",
                provisional=checked.provisional,
            )
            inline = (
                register_inline
                and not payment.provisional
                and self._outage.may_ask()
                and self._token_ready()
            )
            if inline:
                # Born leased and marked "create sent" in the acceptance's own transaction: the
                # inline attempt goes straight to DIGIT's create (see Registrar.first_attempt).
                payment = states.mark_create_sent(payment, payment.bill_ids, actor="inline", at=now)
            created = self._payments.create(
                payment,
                lease_seconds=self._settings.lease_ttl_seconds if inline else None,
                offline=offline,
            )
        except BaseException:
            self._idempotency.release(device.id, idempotency_key, claim.token)
            raise
        if created.outcome is CreateOutcome.REPLAY:
            return self._replay(created.payment_id)
        if created.outcome is CreateOutcome.MISMATCH:
            raise IdempotencyKeyReused(created.payment_id)
        if created.outcome is CreateOutcome.CONFLICT:
            self._idempotency.release(device.id, idempotency_key, claim.token)
            raise PaymentInProgress(
                self._own(created.payment_id, device), bill_id=_bill_of(payment, created.conflict)
            )
        if created.outcome is CreateOutcome.BILL_TAKEN:
            # the ledger already holds a live payment (open or REGISTERED) for this bill: never
            # take the money twice, also not from a snapshot while DIGIT is unreachable
            self._idempotency.release(device.id, idempotency_key, claim.token)
            bill_id = created.bill_id or ""
            raise PaymentRejected([_bill_recorded(payment.bill_ids.index(bill_id), bill_id)])
        # Committed: from here the payment is the ledger's. Its job is enqueued after the
        # commit: at once when nobody registers it inline (an offline upload, a payment checked
        # against a snapshot while DIGIT gives no answer), else only if the inline attempt has
        # not decided it within the budget (due once that attempt's lease has run out). If this
        # process dies before (or Redis loses the job), the worker's sweeper re-enqueues every
        # PENDING payment it finds in the ledger without a live job, so a failure to schedule is
        # logged, never an error answer.
        if not inline:
            self._schedule(payment, delay_seconds=0)
        self._observer.payment_accepted(payment)
        log.info(
            "payment accepted",
            extra={
                "payment_id": payment.id,
                "device_id": device.id,
                "provisional": payment.provisional,
                "amount": str(payment.total_amount),
                "bills": len(payment.bills),
            },
        )
        if not inline:
            # DIGIT gave no usable answer a moment ago (to this payment's check, or to another
            # payment's create: OUTAGE_HOLD_SECONDS), no DIGIT token could be had, or the
            # caller does not wait: the worker registers it
            return AcceptOutcome(payment=payment)
        registered = self._register_within_budget(
            payment, created.fence, deadline, leased_at=time.monotonic()
        )
        if registered.status is PaymentStatus.PENDING:
            self._schedule(payment, delay_seconds=self._settings.lease_ttl_seconds)
        if registered.status is PaymentStatus.REFUSED:
            raise refusal_from_history(registered)
        return AcceptOutcome(payment=registered)

    def _answer_for_earlier(self, claim: ClaimResult) -> AcceptOutcome:
        """The answer when the key is not new: in flight (409), reused for another request
        (422), or a replay of its payment."""
        if claim.outcome is ClaimOutcome.MISMATCH:
            raise IdempotencyKeyReused(claim.payment_id)
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            raise RequestInFlight(retry_after=1)
        return self._replay(claim.payment_id)

    def _schedule(self, payment: Payment, *, delay_seconds: float) -> None:
        try:
            self._scheduler.schedule_new(payment.id, delay_seconds=delay_seconds)
        except Exception:
            log.exception("could not schedule registration", extra={"payment_id": payment.id})

    def _own(self, payment_id: str | None, device: Device) -> str | None:
        """`payment_id` when `device` made that payment; None for another device's."""
        holder = self._payments.get(payment_id) if payment_id else None
        return payment_id if holder is not None and holder.device_id == device.id else None

    def _replay(self, payment_id: str | None) -> AcceptOutcome:
        payment = self._payments.get(payment_id or "")
        if payment is None:  # cannot happen: the record and the payment are written together
            raise RequestInFlight(retry_after=1)
        if (
            payment.status is PaymentStatus.PENDING
            and payment.attempts == 0
            and self._leases.current(payment.id) is not None
            and self._clock() - payment.created_at
            < timedelta(seconds=self._settings.registration_budget_seconds + 1)
        ):
            # The first request is still registering it inline and has not answered yet.
            raise RequestInFlight(retry_after=1)
        if payment.status is PaymentStatus.REFUSED:
            raise refusal_from_history(payment)
        return AcceptOutcome(payment=payment, replayed=True)

    def _token_ready(self) -> bool:
        """Get the shared DIGIT token before the payment is born leased (a login may take a
        while and must not eat the lease). Without one the payment is left to the worker."""
        try:
            self._digit.ensure_token()
        except NO_ANSWER:
            return False
        return True

    def _register_within_budget(
        self, payment: Payment, fence: int | None, deadline: float, *, leased_at: float
    ) -> Payment:
        """Wait for the inline registration until `deadline` (what is left of the request's
        budget after the checks; maybe nothing). The attempt itself is not cut: it holds the
        payment's lease and goes on in the background, so DIGIT's answer, when it comes, is
        recorded at once; the device meanwhile hears 202. A refusal of the create that comes
        before the 202 is the device's answer instead (REFUSED, `first_create`)."""
        waiting = DeviceWaiting()
        if fence is None:
            future = self._inline.submit(
                self._registrar.attempt, payment.id, actor="inline", waiting=waiting
            )
        else:
            future = self._inline.submit(
                self._registrar.first_attempt,
                payment,
                fence=fence,
                waiting=waiting,
                leased_at=leased_at,
            )
        try:
            outcome = future.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            if waiting.accepted():
                return self._latest(payment)
            # The refusal won the race and is being recorded (one ledger write, bounded by the
            # ledger's own timeouts): it is the answer. Not waiting for it could tell the device
            # "accepted" for a payment about to be closed as refused.
            try:
                outcome = future.result()
            except Exception:
                log.exception("recording a refusal failed", extra={"payment_id": payment.id})
                return self._latest(payment)
        except Exception:
            log.exception("inline registration failed", extra={"payment_id": payment.id})
            return self._latest(payment)
        if outcome.result is AttemptResult.BUSY:  # the lease was lost before the create
            return self._latest(payment)
        if outcome.result is AttemptResult.RETRY_LATER:
            # DIGIT gave no usable answer to the create: the next payments of this process go
            # to the worker at once for a while instead of each trying DIGIT first
            self._outage.no_answer()
        else:
            self._outage.answered()
        return outcome.payment or self._latest(payment)

    def _latest(self, payment: Payment) -> Payment:
        """The stored payment as it is now; the committed copy if the ledger cannot be read.

        The payment is committed and scheduled: the device must hear "accepted" (202), never an
        error that would make it take the money again.
        """
        try:
            return self._payments.get(payment.id) or payment
        except LedgerUnavailable:
            return payment

    # --- reading ---

    def get_payment(self, *, device: Device, payment_id: str) -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None or payment.device_id != device.id:
            raise PaymentNotFound(payment_id)
        return payment

    def find_payment(self, *, device: Device, idempotency_key: str) -> Payment:
        payment = self._payments.get_by_idempotency(device.id, idempotency_key)
        if payment is None:
            raise PaymentNotFound(idempotency_key)
        return payment

    def receipt(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        receipt_number: str,
        consumer_code: str | None = None,
    ) -> Receipt:
        return self._receipts.lookup(
            device=device,
            tenant_id=tenant_id,
            business_service=business_service,
            receipt_number=receipt_number,
            consumer_code=consumer_code,
        )

    def close(self) -> None:
        self._inline.shutdown(wait=False, cancel_futures=False)


def canonical(request: PaymentRequest) -> dict[str, Any]:
    """The request as compared for idempotency: bills sorted, mode upper-cased."""
    return {
        "tenantId": request.tenant_id,
        "paymentMode": request.payment_mode.upper(),
        "paidBy": request.paid_by,
        "payerName": request.payer_name,
        "mobileNumber": request.mobile_number,
        "instrumentNumber": request.instrument_number,
        "instrumentDate": request.instrument_date,
        "transactionNumber": request.transaction_number,
        "collectedAt": request.collected_at,
        "bills": sorted(
            ({"billId": line.bill_id, "amount": line.amount} for line in request.bills),
            key=lambda b: str(b["billId"]),
        ),
    }


def _bill_of(payment: Payment, consumer: ConsumerKey | None) -> str | None:
    """The bill of `payment` that is `consumer`'s (the one an open payment already holds)."""
    for bill in payment.bills:
        if consumer is not None and (
            payment.tenant_id,
            bill.business_service,
            bill.consumer_code,
        ) == tuple(consumer):
            return bill.bill_id
    return None


def _strict_rule(business_service: str) -> PaymentRule:
    """No MDMS rule for the service: the strictest reading (exact amount only)."""
    return PaymentRule(
        business_service=business_service,
        part_payment_allowed=False,
        advance_allowed=False,
        min_amount_payable=None,
    )


def _bill_recorded(position: int, bill_id: str) -> Violation:
    """The refusal of a bill the ledger already holds a live payment for (open or REGISTERED)."""
    return Violation(
        code="BILL_ALREADY_PAID",
        field=f"bills[{position}].billId",
        message=f"a payment for bill {bill_id} is already recorded",
    )
