"""The one registration path: turn a PENDING payment into DIGIT receipts, exactly once.

Used inline by the PoS API (within the registration budget) and by the RQ worker. One attempt:

1. takes the payment's lease (a fencing token) and reads the payment, in one statement: no two
   attempts for a payment overlap;
2. if an earlier create may have reached DIGIT (`create_sent`), *looks before creating*: searches
   DIGIT's payments for every billId ever targeted, each under its module. A DIGIT payment that
   carries our payment id is adopted (REGISTERED, receipts stored); one made by someone else means
   NEEDS_ATTENTION; nothing found means it is safe to create;
3. records "create sent" and the billIds it targets, durably, *before* calling `payments/_create`,
   renewing the lease in the same commit;
4. calls `payments/_create` once and records what came back; the save that ends the attempt also
   gives the lease back (every write is conditional on the fence).

Outcomes (`AttemptResult`): REGISTERED and NEEDS_ATTENTION are decided; RETRY_LATER means DIGIT
gave no usable answer (the payment stays PENDING and a later attempt looks first); AUTH_BLOCKED
means we have no usable DIGIT token (no attempt is spent); BUSY means another attempt holds the
lease; FINISHED means the payment was already past PENDING; REFUSED means DIGIT refused the
payment's first create while its device still waited, which was told so (`first_create`).

DIGIT's errors are classified once: `classify` names the outcome, `ON_DIGIT_OUTCOME` says what the
attempt does with it, `STAYS_PENDING` which result an outcome that decides nothing gives. One
`_Attempt` carries the payment, the lease's fence and the actor through an attempt.

An attempt whose create timed out (or got any answer that does not settle the outcome) leaves its
lease to expire instead of releasing it: DIGIT may still be committing that create, and the next
attempt must not search before the lease TTL (> DIGIT's read timeout) has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from integrator.digit.errors import (
    NO_USABLE_ANSWER,
    DigitAuthError,
    DigitError,
    DigitForbidden,
    DigitNoAnswer,
    DigitRejected,
)
from integrator.digit.models import DigitPayment, PaymentCreate, PaymentLine
from integrator.payments import states
from integrator.payments.events import NO_PAYMENT_OBSERVER, PaymentObserver
from integrator.payments.first_create import DeviceWaiting, refusal_answer, refusal_detail
from integrator.payments.models import HistoryEntry, Payment, PaymentBill, PaymentStatus
from integrator.payments.ports import (
    DigitGateway,
    IntegrityRefused,
    LeaseAfterSave,
    Leases,
    PaymentLedger,
    PaymentStoreError,
)
from integrator.payments.rules import instrument_date_start

log = logging.getLogger("integrator.registration")

#: Modes for which DIGIT requires the device's own transaction number (docs/digit.md#create).
#: For every other mode we send our payment id (DIGIT overwrites it for CASH anyway).
DEVICE_TRANSACTION_MODES = frozenset({"CARD", "ONLINE", "ONLINE_NEFT", "ONLINE_RTGS"})

#: The key in DIGIT's `Payment.additionalDetails` that names our payment: how we recognise ours.
PAYMENT_ID_KEY = "integratorPaymentId"


#: DIGIT's refusal of a superseded bill (docs/digit.md#expiry): fetch the current bill, re-target.
BILL_EXPIRED = "BILL_EXPIRED"

#: NEEDS_ATTENTION reasons decided here (besides DIGIT_REJECTED, BILL_PAID_ELSEWHERE, ...).
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
#: Blocked on DIGIT authorisation for longer than AUTH_BLOCKED_MAX_SECONDS: the account's
#: login, its token, or (DIGIT_FORBIDDEN, a 403 from DIGIT's access control) its roles.
DIGIT_AUTH_BLOCKED = "DIGIT_AUTH_BLOCKED"
#: DIGIT holds a payment carrying our id that was cancelled or dishonoured there: never adopted.
DIGIT_PAYMENT_CANCELLED = "DIGIT_PAYMENT_CANCELLED"
#: The attempt reason while a payment waits for an earlier create to settle (not a decision).
AWAITING_CREATE_SETTLE = "AWAITING_CREATE_SETTLE"
DIGIT_FORBIDDEN = "DIGIT_FORBIDDEN"
#: NEEDS_ATTENTION after BILL_EXPIRED: the successor's total does not fit, or there is none.
BILL_EXPIRED_TOTAL_CHANGED = "BILL_EXPIRED_TOTAL_CHANGED"
BILL_EXPIRED_NO_BILL = "BILL_EXPIRED_NO_BILL"
#: NEEDS_ATTENTION: the bill expired and the consumer's current bill is another payment's.
BILL_EXPIRED_SUCCESSOR_TAKEN = "BILL_EXPIRED_SUCCESSOR_TAKEN"
#: How long an inline attempt may start after its payment's acceptance before it renews the
#: lease it was born with (a create must have a whole lease: LEASE_TTL_SECONDS exceeds the
#: DIGIT call's deadline by only a few seconds).
FIRST_CREATE_SLACK_SECONDS = 1.0


class AttemptResult(StrEnum):
    REGISTERED = "REGISTERED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    RETRY_LATER = "RETRY_LATER"
    AUTH_BLOCKED = "AUTH_BLOCKED"
    BUSY = "BUSY"
    FINISHED = "FINISHED"
    REFUSED = "REFUSED"


@dataclass(frozen=True, kw_only=True)
class AttemptOutcome:
    result: AttemptResult
    payment: Payment | None = None
    error: str | None = None
    codes: tuple[str, ...] = ()
    #: For RETRY_LATER / AUTH_BLOCKED: the class name of the DIGIT error (e.g. DigitUnavailable).
    cause: str | None = None


@dataclass(frozen=True, kw_only=True)
class Lookup:
    """What DIGIT holds for the billIds a payment targeted."""

    ours: (
        DigitPayment | None
    )  # a live DIGIT payment carrying our payment id (never a cancelled one)
    others: tuple[DigitPayment, ...]  # live payments made by someone else
    all_ours: tuple[DigitPayment, ...] = ()  # every DIGIT payment carrying our id

    @property
    def duplicated(self) -> bool:
        """More than one live DIGIT payment carries our payment id: a person must look."""
        return sum(1 for p in self.all_ours if p.is_live) > 1


class DigitOutcome(StrEnum):
    """What a DIGIT error means for a registration (`classify`)."""

    NO_ANSWER = "NO_ANSWER"  # DigitNoAnswer: nothing usable came back; a write may have happened
    NOT_AUTHORISED = "NOT_AUTHORISED"  # our token or roles were refused: nothing was processed
    ALREADY_PAID = "ALREADY_PAID"  # refused: the bill is paid (by us earlier, or someone else)
    BILL_EXPIRED = "BILL_EXPIRED"  # refused: DIGIT superseded the bill
    REJECTED = "REJECTED"  # refused for any other reason: the same request fails again


class Action(StrEnum):
    """What the registrar does with a DIGIT outcome."""

    RETRY_LATER = "RETRY_LATER"  # stay PENDING, spend one of the payment's attempts
    WAIT_FOR_AUTH = "WAIT_FOR_AUTH"  # stay PENDING, spend nothing (AUTH_BLOCKED)
    LOOK = "LOOK"  # search DIGIT: adopt our payment, or NEEDS_ATTENTION
    RETARGET = "RETARGET"  # move onto the consumer's current bill and create once more
    REFUSE = "REFUSE"  # NEEDS_ATTENTION, DIGIT_REJECTED with DIGIT's codes


#: The one table from DIGIT's outcome to what an attempt does. Two steps narrow it: a create sent
#: after RETARGET treats BILL_EXPIRED as REFUSE (one move per attempt), and the fetch of the
#: current bill during RETARGET retries later on any DIGIT error (the create was refused: nothing
#: was written).
ON_DIGIT_OUTCOME: Mapping[DigitOutcome, Action] = {
    DigitOutcome.NO_ANSWER: Action.RETRY_LATER,
    DigitOutcome.NOT_AUTHORISED: Action.WAIT_FOR_AUTH,
    DigitOutcome.ALREADY_PAID: Action.LOOK,
    DigitOutcome.BILL_EXPIRED: Action.RETARGET,
    DigitOutcome.REJECTED: Action.REFUSE,
}

#: DIGIT's refusals of a create: nothing was written there. On a payment's first create, while
#: its device waits, each is the device's answer (REFUSED), since no earlier create of ours
#: can be what DIGIT found.
REFUSALS = frozenset({DigitOutcome.ALREADY_PAID, DigitOutcome.BILL_EXPIRED, DigitOutcome.REJECTED})

#: The attempt results of the actions that leave the payment PENDING, and whether they spend one
#: of its attempts.
STAYS_PENDING: Mapping[Action, tuple[AttemptResult, bool]] = {
    Action.RETRY_LATER: (AttemptResult.RETRY_LATER, True),
    Action.WAIT_FOR_AUTH: (AttemptResult.AUTH_BLOCKED, False),
}

#: The fetch of the current bill during RETARGET retries later on any of these.
NO_USABLE_ANSWER_OR_REFUSED: tuple[type[DigitError], ...] = (*NO_USABLE_ANSWER, DigitRejected)


def classify(exc: DigitError) -> DigitOutcome | None:
    """What `exc` means for a registration; None for an error outside DIGIT's tree (raised)."""
    if isinstance(exc, DigitRejected):
        if exc.bill_already_paid:  # BILL_ALREADY_PAID, or the bill's unique constraint
            return DigitOutcome.ALREADY_PAID
        if BILL_EXPIRED in exc.codes:
            return DigitOutcome.BILL_EXPIRED
        return DigitOutcome.REJECTED
    if isinstance(exc, DigitNoAnswer):
        return DigitOutcome.NO_ANSWER
    if isinstance(exc, DigitAuthError | DigitForbidden):
        return DigitOutcome.NOT_AUTHORISED
    return None


@dataclass(kw_only=True)
class _Attempt:
    """One attempt's state: the payment as last recorded, the lease's fencing token, who runs
    the attempt and when it started (monotonic, for the recorded latency)."""

    payment: Payment
    fence: int
    actor: str
    started: float = field(default_factory=time.monotonic)
    #: the device waiting for this attempt's outcome, if any (first_create.DeviceWaiting)
    waiting: DeviceWaiting | None = None
    #: no create was sent for the payment before this attempt
    first_create: bool = False
    #: The last save gave the lease back (it decided the payment, or the attempt is over).
    lease_released: bool = False


class _KeepLease(Exception):
    """Internal: the attempt ended with DIGIT's outcome unknown; let the lease expire."""

    def __init__(self, outcome: AttemptOutcome) -> None:
        super().__init__(outcome.result)
        self.outcome = outcome


class Registrar:
    """Runs registration attempts. Thread-safe: all state lives in the ledger and DIGIT."""

    def __init__(
        self,
        *,
        payments: PaymentLedger,
        leases: Leases,
        digit: DigitGateway,
        lease_ttl_seconds: float,
        timezone: Any,
        clock: Callable[[], datetime],
        create_settle_seconds: float = 7200.0,
        observer: PaymentObserver = NO_PAYMENT_OBSERVER,
    ) -> None:
        self._create_settle = timedelta(seconds=create_settle_seconds)
        # the searches of one look-up, at once (threads, or greenlets under gevent)
        self._lookups = ThreadPoolExecutor(max_workers=8, thread_name_prefix="digit-lookup")
        self._observer = observer
        self._payments = payments
        self._leases = leases
        self._digit = digit
        self._lease_ttl = lease_ttl_seconds
        self._tz = timezone
        self._clock = clock

    def attempt(
        self,
        payment_id: str,
        *,
        actor: str,
        waiting: DeviceWaiting | None = None,
        give_up_if: Callable[[Payment], str | None] | None = None,
    ) -> AttemptOutcome:
        """One registration attempt for `payment_id` (see the module docstring).

        `waiting`: the device still waits for the answer, so DIGIT's refusal of a first create
        can be it. `give_up_if(payment)`, asked once the lease is held, may name a reason to
        stop retrying instead (`give_up`), decided on the payment as read with the lease: no
        separate read.
        """
        att = self._lease(payment_id, actor=actor)
        if isinstance(att, AttemptOutcome):
            return att
        att.waiting = waiting
        att.first_create = not att.payment.create_sent and not att.payment.targeted_bill_ids
        reason = give_up_if(att.payment) if give_up_if is not None else None
        if reason is not None:
            return self._give_up(att, reason=reason)
        try:
            outcome = self._attempt(att)
        except _KeepLease as keep:
            return keep.outcome
        except BaseException:
            # An unexpected failure (a bug, Redis gone): DIGIT may have been called; be as
            # careful as after a timeout.
            raise
        self._release(att)
        return outcome

    def first_attempt(
        self,
        payment: Payment,
        *,
        fence: int,
        waiting: DeviceWaiting | None = None,
        leased_at: float | None = None,
    ) -> AttemptOutcome:
        """The inline attempt of a payment the ledger accepted already leased to `fence` and
        marked "create sent" (PaymentLedger.create with lease_seconds): straight to the create,
        the device's one DIGIT round trip. Marked before the create was sent, so if this
        process dies first, the next attempt looks in DIGIT before creating (a search, nothing
        worse).

        `leased_at` (time.monotonic() when the acceptance committed): an attempt that starts
        late (its thread pool queued under load) renews the lease before sending, so the create
        still has a whole lease; if the lease is lost, it sends nothing (BUSY)."""
        if not payment.create_sent or payment.status is not PaymentStatus.PENDING:
            raise ValueError("first_attempt needs a PENDING payment recorded as create sent")
        if (
            leased_at is not None
            and time.monotonic() - leased_at > FIRST_CREATE_SLACK_SECONDS
            and not self._leases.renew(payment.id, fence, ttl_seconds=self._lease_ttl)
        ):
            log.warning(
                "inline attempt started after its lease was lost", extra={"payment_id": payment.id}
            )
            return AttemptOutcome(result=AttemptResult.BUSY, payment=payment)
        att = _Attempt(
            payment=payment, fence=fence, actor="inline", waiting=waiting, first_create=True
        )
        try:
            try:
                created = self._digit.create_payment(self.digit_request(payment))
            except DigitError as exc:
                outcome = self._after_digit_error(att, exc, retargeted=False)
            else:
                outcome = self._registered(att, created, reason="created")
        except _KeepLease as keep:
            return keep.outcome
        self._release(att)
        return outcome

    def _lease(self, payment_id: str, *, actor: str) -> _Attempt | AttemptOutcome:
        """The payment's lease and the payment, taken and read in one statement; FINISHED when
        the payment is no longer PENDING, BUSY when another attempt holds the lease."""
        leased = self._leases.acquire_pending(payment_id, ttl_seconds=self._lease_ttl)
        if leased is not None:
            fence, payment = leased
            att = _Attempt(payment=payment, fence=fence, actor=actor)
            self._note_unanswered_create(att)
            return att
        current = self._payments.get(payment_id)
        if current is None or current.status is not PaymentStatus.PENDING:
            return AttemptOutcome(result=AttemptResult.FINISHED, payment=current)
        return AttemptOutcome(result=AttemptResult.BUSY)

    def _note_unanswered_create(self, att: _Attempt) -> None:
        """Record, before anything else, that the latest create has no outcome: the attempt
        that sent it ended without recording one (its process died, or its last save was
        refused). Whatever this attempt records next (a failed look-up, giving up) says
        nothing about that create, which DIGIT may still commit; the entry keeps it unknown
        for `unsettled_create_since`."""
        sent_at = unanswered_create(att.payment)
        if sent_at is None:
            return
        log.warning(
            "an earlier create has no recorded outcome",
            extra={"payment_id": att.payment.id, "sent_at": sent_at.isoformat()},
        )
        self._save(
            att,
            states.record(
                att.payment,
                event=CREATE_UNANSWERED,
                actor=att.actor,
                at=self._clock(),
                reason="the attempt that sent the create recorded no outcome",
                detail={"sentAt": sent_at.isoformat()},
            ),
        )

    def _release(self, att: _Attempt) -> None:
        """Give the lease back, unless the attempt's last save already did."""
        if not att.lease_released:
            self._leases.release(att.payment.id, att.fence)

    # --- the attempt ---

    def _attempt(self, att: _Attempt) -> AttemptOutcome:
        payment = att.payment
        if payment.create_sent:
            try:
                decided = self._settle(att, self.lookup(payment))
            except DigitError as exc:
                return self._after_digit_error(att, exc, retargeted=False)
            if decided is not None:
                return decided
        return self._create_and_classify(att, retargeted=False)

    def _create_and_classify(self, att: _Attempt, *, retargeted: bool) -> AttemptOutcome:
        """Record "create sent", send `payments/_create` once, and record what came back."""
        try:
            self._record_create_sent(att)
            created_payment = self._create(att)
        except DigitError as exc:
            return self._after_digit_error(att, exc, retargeted=retargeted)
        return self._registered(att, created_payment, reason="created")

    def _after_digit_error(
        self, att: _Attempt, exc: DigitError, *, retargeted: bool
    ) -> AttemptOutcome:
        """Do what `ON_DIGIT_OUTCOME` says for `exc`, raised by a look-up or a create.

        After a create whose outcome is unknown the lease is kept (`_KeepLease`): DIGIT may
        still commit it, and no attempt may look before the lease expires.
        """
        outcome = classify(exc)
        if outcome is None:
            raise exc
        action = ON_DIGIT_OUTCOME[outcome]
        if (
            outcome in REFUSALS
            and att.first_create
            and not retargeted
            and att.waiting is not None
            and att.waiting.refuse()
        ):
            assert isinstance(exc, DigitRejected)
            return self._refused(att, exc)
        if action is Action.LOOK:
            assert isinstance(exc, DigitRejected)
            return self._after_already_paid(att, exc)
        if action is Action.RETARGET and not retargeted:
            assert isinstance(exc, DigitRejected)
            return self._after_bill_expired(att, exc)
        if action in (Action.REFUSE, Action.RETARGET):
            return self._needs_attention(
                att, reason="DIGIT_REJECTED", codes=exc.codes, error=str(exc)
            )
        if action is not Action.RETRY_LATER:
            return self._pending(att, exc, action=action)
        # a create on the successor bill is as unknown as a first one: marked so, a later
        # BILL_EXPIRED waits for it to settle instead of moving the payment on again
        create_sent = att.payment.create_sent
        pending = self._pending(att, exc, action=action, create_unknown=create_sent)
        if create_sent:
            raise _KeepLease(pending) from exc
        return pending

    def _record_create_sent(self, att: _Attempt) -> None:
        """Get the token first (a login may take a while), then record durably that a create
        for these bills is about to be sent: from now on, look before creating again. The same
        commit renews the lease for the create (`_create`); a lease lost meanwhile refuses the
        save (StaleFence) and nothing is sent."""
        self._digit.ensure_token()
        payment = att.payment
        self._save(
            att,
            states.mark_create_sent(payment, payment.bill_ids, actor=att.actor, at=self._clock()),
            lease=LeaseAfterSave.RENEW,
        )

    def _create(self, att: _Attempt) -> DigitPayment:
        """`payments/_create` under the lease `_record_create_sent` just renewed: the create
        (re-sent within the call by the client only after the gateway refused its token, and
        only within the one call's deadline) has the whole lease, longer than that deadline, so
        no other attempt can look or create meanwhile."""
        return self._digit.create_payment(self.digit_request(att.payment))

    def _settle(self, att: _Attempt, found: Lookup) -> AttemptOutcome | None:
        """What DIGIT's payments for these bills settle: duplicated, ours (adopted), someone
        else's; None when DIGIT holds none."""
        if found.duplicated:
            return self._duplicated(att, found)
        if found.ours is not None:
            return self._registered(att, found.ours, reason="adopted")
        if found.all_ours:
            statuses = sorted({p.payment_status or "?" for p in found.all_ours})
            return self._needs_attention(
                att,
                reason=DIGIT_PAYMENT_CANCELLED,
                codes=(),
                error=(
                    "DIGIT holds our payment, but it is no longer live there "
                    f"({', '.join(statuses)}): the money was taken; decide with DIGIT's office"
                ),
            )
        if found.others:
            return self._paid_elsewhere(att, found.others)
        return None

    def _after_already_paid(self, att: _Attempt, exc: DigitRejected) -> AttemptOutcome:
        """BILL_ALREADY_PAID: either our own earlier create, or someone else's payment."""
        try:
            found = self.lookup(att.payment)
        except NO_USABLE_ANSWER as lookup_exc:
            outcome = classify(lookup_exc)
            assert outcome is not None
            return self._pending(att, lookup_exc, action=ON_DIGIT_OUTCOME[outcome])
        settled = self._settle(att, found)
        if settled is not None:
            return settled
        return self._needs_attention(att, reason="DIGIT_REJECTED", codes=exc.codes, error=str(exc))

    def _after_bill_expired(self, att: _Attempt, exc: DigitRejected) -> AttemptOutcome:
        """BILL_EXPIRED: DIGIT superseded a bill. The create was refused (nothing written), so
        the payment may move onto the consumer's current bill if that cannot change what the
        payer owes: same total, or the payment was already partial. Then create once more.

        Not while an earlier create's outcome is unknown: DIGIT may still commit it, minutes
        later, on the old bill, where its per-bill guards cannot see a payment on the successor
        (the consumer would pay twice). The payment stays PENDING, visibly, until that create's
        settle period (CREATE_SETTLE_SECONDS) has passed and a search of the consumer's payments
        finds none of ours; a late commit found meanwhile is adopted.
        """
        unsettled = unsettled_create_since(att.payment)
        if unsettled is not None and self._clock() < unsettled + self._create_settle:
            return self._awaiting_settle(att, until=unsettled + self._create_settle)
        try:
            moved = self._retargeted(att.payment)
        except NO_USABLE_ANSWER_OR_REFUSED as fetch_exc:
            # the create was refused (nothing written); the fetch gave no usable answer
            return self._pending(att, fetch_exc, action=Action.RETRY_LATER)
        if isinstance(moved, str):
            return self._needs_attention(
                att, reason=moved, codes=exc.codes, error=f"{moved}: {exc}"
            )
        try:
            self._save(att, moved)
        except IntegrityRefused as taken:
            # the consumer's current bill is held by another live payment of ours (another
            # device took it meanwhile): DIGIT refused this create, so nothing was written;
            # the payer's money has no bill left to go to
            return self._needs_attention(
                att, reason=BILL_EXPIRED_SUCCESSOR_TAKEN, codes=exc.codes, error=str(taken)
            )
        return self._create_and_classify(att, retargeted=True)

    def _retargeted(self, payment: Payment) -> Payment | str:
        """`payment` moved onto each consumer's current bill, or the NEEDS_ATTENTION reason."""
        bills: list[PaymentBill] = []
        moves: list[dict[str, str]] = []
        for bill in payment.bills:
            current = self._digit.fetch_bills(
                tenant_id=payment.tenant_id,
                business_service=bill.business_service,
                consumer_code=bill.consumer_code,
            )
            if not current:
                return BILL_EXPIRED_NO_BILL
            successor = current[0]
            if successor.id == bill.bill_id:
                bills.append(bill)
                continue
            if not may_retarget(bill, successor.total_amount):
                return BILL_EXPIRED_TOTAL_CHANGED
            moved = retarget(
                bill,
                new_bill_id=successor.id,
                new_bill_number=successor.bill_number,
                new_total=successor.total_amount,
            )
            bills.append(replace(moved, balance_left=successor.total_amount - bill.amount))
            moves.append(
                {"from": bill.bill_id, "to": successor.id, "total": str(successor.total_amount)}
            )
        if not moves:
            # DIGIT still serves the same bills: nothing to move onto; a person must look.
            return BILL_EXPIRED_NO_BILL
        log.info("payment re-targeted", extra={"payment_id": payment.id, "moves": moves})
        return states.record(
            replace(payment, bills=tuple(bills)),
            event="retargeted",
            actor="registrar",
            at=self._clock(),
            reason=BILL_EXPIRED,
            detail={"moves": moves},
        )

    # --- giving up ---

    def give_up(
        self, payment_id: str, *, actor: str, reason: str = RETRIES_EXHAUSTED
    ) -> AttemptOutcome:
        """Stop retrying a PENDING payment: NEEDS_ATTENTION with `reason` and the last DIGIT
        codes. If a create may have reached DIGIT, look first (a found payment is adopted);
        when DIGIT cannot be asked, the operator decides. Never deletes anything.
        """
        att = self._lease(payment_id, actor=actor)
        if isinstance(att, AttemptOutcome):
            return att
        return self._give_up(att, reason=reason)

    def _give_up(self, att: _Attempt, *, reason: str) -> AttemptOutcome:
        payment = att.payment
        if payment.create_sent:
            try:
                decided = self._settle(att, self.lookup(payment))
            except DigitError as exc:
                log.warning(
                    "look-up before giving up failed",
                    extra={"payment_id": payment.id, "error": type(exc).__name__},
                )
                decided = None
            if decided is not None:
                self._release(att)
                return decided
        last = last_attempt(payment)
        codes = last.codes if last is not None else ()
        error = f"{reason}: last error {payment.last_error or 'none'}"
        outcome = self._needs_attention(att, reason=reason, codes=codes, error=error, count=False)
        self._release(att)
        return outcome

    # --- looking in DIGIT ---

    def create_may_commit_until(self, payment: Payment) -> datetime | None:
        """Until when DIGIT may still commit a create of `payment` whose outcome is unknown (it
        has no timeouts of its own: a create can commit long after we gave up on it), or None
        once every create sent got an answer or the settle period (CREATE_SETTLE_SECONDS) of
        the latest unanswered one has passed."""
        unsettled = unsettled_create_since(payment)
        if unsettled is None or self._clock() >= unsettled + self._create_settle:
            return None
        return unsettled + self._create_settle

    def lookup(self, payment: Payment) -> Lookup:
        """Search DIGIT's payments for every billId the payment ever targeted, per module, and
        the payment's consumers' payments: a create DIGIT committed late, after we moved on to
        another bill, carries our id on a bill we may no longer name."""
        modules = self._modules_by_bill(payment)
        by_module: dict[str, list[str]] = {}
        for bill_id in sorted(payment.targeted_bill_ids | set(payment.bill_ids)):
            by_module.setdefault(modules[bill_id], []).append(bill_id)
        consumers: dict[str, set[str]] = {}
        for bill in payment.bills:
            consumers.setdefault(bill.business_service, set()).add(bill.consumer_code)
        searches: list[dict[str, Any]] = [
            {"module": module, "bill_ids": bill_ids}
            for module, bill_ids in sorted(by_module.items())
        ] + [
            {"module": module, "consumer_codes": sorted(codes)}
            for module, codes in sorted(consumers.items())
        ]
        ours: dict[str, DigitPayment] = {}
        others: dict[str, DigitPayment] = {}
        for search, found_payments in zip(
            searches, self._search_all(payment.tenant_id, searches), strict=True
        ):
            for found in found_payments:
                if is_ours(found, payment.id):
                    ours[found.id] = found
                elif found.is_live and "bill_ids" in search:
                    # by consumer, only ours count: the consumer's other payments are for
                    # other bills, not competitors for ours
                    others[found.id] = found
        # only a live payment of ours is adopted: a CANCELLED or DISHONOURED one never is
        live = [p for p in ours.values() if p.is_live]
        return Lookup(
            ours=live[0] if live else None,
            others=tuple(others.values()),
            all_ours=tuple(sorted(ours.values(), key=lambda p: not p.is_live)),
        )

    def _search_all(
        self, tenant_id: str, searches: list[dict[str, Any]]
    ) -> list[Sequence[DigitPayment]]:
        """Every search's payments, in order. The searches run at once: a look-up costs one
        DIGIT round trip, not one per search (the drain after an outage is bound by DIGIT's
        latency times the calls each payment makes in sequence). The first error is raised."""
        if len(searches) == 1:
            return [self._digit.search_payments(tenant_id=tenant_id, **searches[0])]
        return list(
            self._lookups.map(
                lambda search: self._digit.search_payments(tenant_id=tenant_id, **search),
                searches,
            )
        )

    @staticmethod
    def _modules_by_bill(payment: Payment) -> dict[str, str]:
        modules: dict[str, str] = {}
        for bill in payment.bills:
            modules[bill.bill_id] = bill.business_service
            if bill.retargeted_from:
                modules[bill.retargeted_from] = bill.business_service
        # Every targeted id came from one of the bills above (re-targeting keeps the origin).
        fallback = payment.bills[0].business_service
        return {
            bid: modules.get(bid, fallback)
            for bid in payment.targeted_bill_ids | set(payment.bill_ids)
        }

    # --- what we send ---

    def digit_request(self, payment: Payment) -> PaymentCreate:
        """The `payments/_create` request for `payment`: one paymentDetail per bill."""
        mode = payment.payment_mode
        if mode in DEVICE_TRANSACTION_MODES and payment.transaction_number:
            transaction_number = payment.transaction_number
        else:
            transaction_number = payment.id
        return PaymentCreate(
            tenant_id=payment.tenant_id,
            payment_mode=mode,
            paid_by=payment.paid_by,
            payer_name=payment.payer_name,
            mobile_number=payment.mobile_number,
            lines=tuple(
                PaymentLine(
                    bill_id=b.bill_id,
                    business_service=b.business_service,
                    amount=b.amount,
                    total_due=b.total_due,
                )
                for b in payment.bills
            ),
            transaction_number=transaction_number,
            instrument_number=payment.instrument_number,
            instrument_date=(
                instrument_date_start(payment.instrument_date, self._tz)
                if payment.instrument_date
                else None
            ),
            additional_details={
                PAYMENT_ID_KEY: payment.id,
                "deviceId": payment.device_id,
                "idempotencyKey": payment.idempotency_key,
                "collectedAt": payment.collected_at.isoformat() if payment.collected_at else None,
            },
        )

    # --- recording outcomes ---

    def _registered(
        self, att: _Attempt, digit_payment: DigitPayment, *, reason: str
    ) -> AttemptOutcome:
        payment, actor, started = att.payment, att.actor, att.started
        receipts = {d.bill_id: d for d in digit_payment.details}
        bills = tuple(
            replace(
                b,
                receipt_number=receipts[b.bill_id].receipt_number,
                receipt_date=receipts[b.bill_id].receipt_date,
            )
            if b.bill_id in receipts
            else b
            for b in payment.bills
        )
        missing = [b.bill_id for b in bills if not b.receipt_number]
        now = self._clock()
        latency = _ms_since(started)
        payment = replace(
            payment,
            bills=bills,
            digit_payment_id=digit_payment.id,
            attempts=payment.attempts + 1,
            last_error=None,
        )
        payment = states.record(
            payment,
            event="attempt",
            actor=actor,
            at=now,
            reason=reason,
            latency_ms=latency,
            detail={"digitPaymentId": digit_payment.id},
        )
        if missing:
            # DIGIT holds our payment but not for every bill: a person must look.
            att.payment = payment
            return self._needs_attention(
                att,
                reason="RECEIPT_MISSING",
                codes=(),
                error=f"no receipt for bills {missing}",
                count=False,
            )
        payment = self._save(
            att,
            states.transition(
                payment,
                PaymentStatus.REGISTERED,
                actor=actor,
                reason=reason,
                at=now,
                latency_ms=latency,
            ),
        )
        self._observer.payment_registered(payment)
        log.info(
            "payment registered",
            extra={"payment_id": payment.id, "how": reason, "latency_ms": latency},
        )
        return AttemptOutcome(result=AttemptResult.REGISTERED, payment=payment)

    def _duplicated(self, att: _Attempt, found: Lookup) -> AttemptOutcome:
        receipts = sorted(d.receipt_number for p in found.all_ours if p.is_live for d in p.details)
        return self._needs_attention(
            att,
            reason="DUPLICATE_IN_DIGIT",
            codes=(),
            error=f"DIGIT holds more than one payment of ours: receipts {receipts}",
        )

    def _paid_elsewhere(self, att: _Attempt, others: Iterable[DigitPayment]) -> AttemptOutcome:
        payment = att.payment
        receipts = sorted(
            d.receipt_number
            for p in others
            for d in p.details
            if d.bill_id in payment.targeted_bill_ids | set(payment.bill_ids)
        )
        return self._needs_attention(
            att,
            reason="BILL_PAID_ELSEWHERE",
            codes=("BILL_ALREADY_PAID",),
            error=f"DIGIT holds another payment for these bills: receipts {receipts}",
        )

    def _refused(self, att: _Attempt, exc: DigitRejected) -> AttemptOutcome:
        """DIGIT refused the first create and the device is told so: close the payment as
        REFUSED with the answer it was given (a replay of its key gets the same)."""
        payment, now = att.payment, self._clock()
        code, violations = refusal_answer(
            payment,
            already_paid=exc.bill_already_paid,
            details=[(d.code, d.message) for d in exc.errors],
        )
        payment = replace(payment, attempts=payment.attempts + 1, last_error=str(exc))
        payment = self._save(
            att,
            states.transition(
                payment,
                PaymentStatus.REFUSED,
                actor=att.actor,
                reason=code,
                at=now,
                codes=exc.codes,
                latency_ms=_ms_since(att.started),
                detail=refusal_detail(code, violations),
            ),
        )
        log.info(
            "payment refused by DIGIT; the device was told",
            extra={"payment_id": payment.id, "codes": list(exc.codes)},
        )
        return AttemptOutcome(
            result=AttemptResult.REFUSED, payment=payment, error=str(exc), codes=exc.codes
        )

    def _needs_attention(
        self,
        att: _Attempt,
        *,
        reason: str,
        codes: Iterable[str],
        error: str | None = None,
        count: bool = True,
    ) -> AttemptOutcome:
        payment, actor = att.payment, att.actor
        now = self._clock()
        codes = tuple(codes)
        latency = _ms_since(att.started)
        if count:
            payment = replace(payment, attempts=payment.attempts + 1)
            payment = states.record(
                payment,
                event="attempt",
                actor=actor,
                at=now,
                reason=reason,
                codes=codes,
                latency_ms=latency,
            )
        payment = replace(payment, last_error=error or reason)
        payment = self._save(
            att,
            states.transition(
                payment,
                PaymentStatus.NEEDS_ATTENTION,
                actor=actor,
                reason=reason,
                at=now,
                codes=codes,
                latency_ms=latency,
            ),
        )
        self._observer.payment_needs_attention(payment)
        log.warning(
            "payment needs attention",
            extra={"payment_id": payment.id, "reason": reason, "codes": list(codes)},
        )
        return AttemptOutcome(
            result=AttemptResult.NEEDS_ATTENTION,
            payment=payment,
            error=error or reason,
            codes=codes,
        )

    def _pending(
        self, att: _Attempt, exc: DigitError, *, action: Action, create_unknown: bool = False
    ) -> AttemptOutcome:
        """The attempt ended without an answer: record it, stay PENDING (`STAYS_PENDING` says
        with which result, and whether an attempt is spent). `create_unknown`: a create was sent
        and its outcome is unknown (DIGIT may still commit it)."""
        result, spend = STAYS_PENDING[action]
        payment = att.payment
        now = self._clock()
        error = f"{type(exc).__name__}: {exc}"
        if spend:
            payment = replace(payment, attempts=payment.attempts + 1)
        payment = replace(payment, last_error=error)
        payment = states.record(
            payment,
            event="attempt",
            actor=att.actor,
            at=now,
            reason=type(exc).__name__,
            codes=exc.codes,
            latency_ms=_ms_since(att.started),
            detail={"spent": spend, "createUnknown": True} if create_unknown else {"spent": spend},
        )
        att.payment = payment
        # the attempt ends here: the save gives the lease back, unless DIGIT may still commit
        # the create (then the lease runs out, and no attempt looks before it has)
        lease = LeaseAfterSave.KEEP if create_unknown else LeaseAfterSave.RELEASE
        try:
            payment = self._save(att, payment, lease=lease)
        except PaymentStoreError:
            log.exception("could not record attempt", extra={"payment_id": payment.id})
        return AttemptOutcome(
            result=result, payment=payment, error=error, codes=exc.codes, cause=type(exc).__name__
        )

    def _awaiting_settle(self, att: _Attempt, *, until: datetime) -> AttemptOutcome:
        """Stay PENDING, saying why and until when, without moving to the successor bill."""
        error = (
            f"the bill expired while an earlier create's outcome is unknown: waiting until "
            f"{until.isoformat(timespec='seconds')} for DIGIT to settle it before paying the "
            "consumer's new bill"
        )
        payment = replace(att.payment, attempts=att.payment.attempts + 1, last_error=error)
        payment = states.record(
            payment,
            event="attempt",
            actor=att.actor,
            at=self._clock(),
            reason=AWAITING_CREATE_SETTLE,
            codes=(BILL_EXPIRED,),
            latency_ms=_ms_since(att.started),
            detail={"spent": True, "until": until.isoformat()},
        )
        payment = self._save(att, payment, lease=LeaseAfterSave.RELEASE)
        log.info("waiting for an earlier create to settle", extra={"payment_id": payment.id})
        return AttemptOutcome(
            result=AttemptResult.RETRY_LATER,
            payment=payment,
            error=error,
            codes=(BILL_EXPIRED,),
            cause=AWAITING_CREATE_SETTLE,
        )

    def _save(
        self, att: _Attempt, payment: Payment, *, lease: LeaseAfterSave = LeaseAfterSave.KEEP
    ) -> Payment:
        """Save `payment` under the attempt's fence; it becomes the attempt's payment. A save
        that decides the payment (it leaves PENDING) ends the attempt: it gives the lease back
        in the same statement."""
        if payment.status is not PaymentStatus.PENDING:
            lease = LeaseAfterSave.RELEASE
        att.payment = self._payments.save(
            payment, fence=att.fence, lease=lease, lease_ttl_seconds=self._lease_ttl
        )
        att.lease_released = lease is LeaseAfterSave.RELEASE
        return att.payment


def is_ours(digit_payment: DigitPayment, payment_id: str) -> bool:
    """Whether a DIGIT payment is the one we created for `payment_id`."""
    details: Mapping[str, Any] = digit_payment.additional_details or {}
    return str(details.get(PAYMENT_ID_KEY, "")) == payment_id


#: History events an attempt records once its create has been answered (or found unanswered).
_CREATE_OUTCOMES = frozenset({"attempt", "transition", "retargeted"})
#: History event: an attempt found the latest create without an outcome (see
#: `RegistrationService._note_unanswered_create`); that create stays unknown.
CREATE_UNANSWERED = "create_unanswered"


def unsettled_create_since(payment: Payment) -> datetime | None:
    """When the latest create whose outcome is unknown was sent (DIGIT gave no usable answer
    to it, so it may still commit), or None when every create sent got an answer. A create
    DIGIT refused (e.g. BILL_EXPIRED: nothing written) does not restart the settle clock.

    A create followed by the next one with no outcome recorded between them is unknown too:
    the attempt that sent it died before it could record anything (SIGKILL, OOM), and the
    next one found nothing in DIGIT only because DIGIT had not committed it yet. So is one an
    attempt found unanswered (`CREATE_UNANSWERED`), whatever was recorded after it. The latest
    create is the caller's own when the history ends with it."""
    sent_at: datetime | None = None  # the latest create sent
    unanswered: datetime | None = None  # ... while no outcome is recorded after it
    unknown_since: datetime | None = None
    for entry in payment.history:
        if entry.event == "create_sent":
            if unanswered is not None:
                unknown_since = unanswered
            sent_at = unanswered = entry.at
        elif entry.event == CREATE_UNANSWERED:
            if unanswered is not None:
                unknown_since = unanswered
            unanswered = None
        elif entry.event in _CREATE_OUTCOMES:
            if entry.detail.get("createUnknown") and sent_at is not None:
                unknown_since = sent_at
            unanswered = None
    return unknown_since


def unanswered_create(payment: Payment) -> datetime | None:
    """When the latest create was sent, if no outcome of it (nor its being found unanswered)
    has been recorded since."""
    for entry in reversed(payment.history):
        if entry.event == "create_sent":
            return entry.at
        if entry.event == CREATE_UNANSWERED or entry.event in _CREATE_OUTCOMES:
            return None
    return None


def last_attempt(payment: Payment) -> HistoryEntry | None:
    """The payment's most recent recorded attempt, if any."""
    for entry in reversed(payment.history):
        if entry.event == "attempt":
            return entry
    return None


def may_retarget(bill: PaymentBill, new_total: Decimal) -> bool:
    """Whether a payment on `bill` may move onto a successor bill of `new_total`.

    Same total: nothing changed for the payer. A part payment (less than the bill's total) stays
    a part payment if the successor still needs at least that much. Anything else (penalty or
    interest added, or the balance fell below what was paid) needs a person.
    """
    if new_total == bill.total_due:
        return True
    return bill.amount < bill.total_due and bill.amount <= new_total


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def retarget(
    bill: PaymentBill, *, new_bill_id: str, new_bill_number: str, new_total: Any
) -> PaymentBill:
    """`bill` moved onto DIGIT's successor bill (kept for the worker's BILL_EXPIRED path)."""
    return replace(
        bill,
        bill_id=new_bill_id,
        bill_number=new_bill_number,
        total_due=new_total,
        retargeted_from=bill.retargeted_from or bill.bill_id,
    )
