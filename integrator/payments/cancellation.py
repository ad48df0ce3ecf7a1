"""Reversing a registered payment in DIGIT (`payments/{module}/_workflow`, digest 13): two people.

    request(...)        a device (within CANCELLATION_WINDOW_MINUTES of collecting) or an operator
                        asks for a CANCEL (or an operator for a DISHONOUR of a bounced cheque/DD),
                        with a reason. Only a request: nothing is sent to DIGIT.
    approve(...)        a second operator, not the requester, approves: DIGIT's rules are checked
                        first, then one `_workflow` call; the payment becomes CANCELLED or
                        DISHONOURED with who asked, who approved, why and when.
    reject(...)         a second operator closes the request; nothing is sent.
    follow_dues(...)    after a reversal, `_fetchbill` until DIGIT shows the successor bill (or the
                        dues stay gone): the dues-following job calls this.

    CancellationRefused         `code` says why (stable; the API, CLI and console show it):
        NOT_FOUND               no such payment or request (or not this device's payment)
        REASON_REQUIRED         a reason of 1-500 characters
        NOT_REGISTERED          only a REGISTERED payment (DIGIT holds it) can be reversed
        WINDOW_PASSED           a device asks within CANCELLATION_WINDOW_MINUTES of collecting
        NOT_A_CHEQUE            DISHONOUR is for CHEQUE and DD payments only
        ALREADY_REQUESTED       a request for this payment is under way (or done)
        NOT_ALLOWED             viewers and devices do not approve, devices do not dishonour
        SAME_PERSON             the requester cannot approve or reject their own request
        NOT_PENDING             the request was decided already
        MODE_NOT_CANCELLABLE    ONLINE/CARD payments are REMITTED at creation: never cancellable
        INSTRUMENT_NOT_APPROVED DIGIT's instrumentStatus is not one the action may touch
        NOT_NEWEST              DIGIT holds a newer payment for the consumer (its receipt named)
        NO_WORKFLOW_ROLE        our DIGIT account holds no `_workflow` role for the module there
        MIXED_TENANTS           DIGIT's payment is of another tenant than ours
        DIGIT_PAYMENT_NOT_FOUND DIGIT does not show the payment we registered
        DIGIT_REFUSED           DIGIT answered no (its codes in the message and on the request)
        DIGIT_NO_ANSWER         DIGIT gave no usable answer to the search or to the workflow
                                call; a later approve looks in DIGIT before sending again
        CHANGED                 the request or payment changed meanwhile: reload, decide again

Rules DIGIT applies (digest 13) are checked here before sending, so the approver sees a clear
reason instead of a RECEIPT_WORKFLOW_* code; DIGIT remains the judge. REMIT is never sent: billing
reverses a remitted payment like a cancellation.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from integrator.digit.errors import DigitAnswered, DigitError
from integrator.digit.models import Bill, DigitPayment, WorkflowItem
from integrator.payments import states
from integrator.payments.cancellation_records import (
    Action,
    CancellationRequest,
    DuesState,
    Operator,
    RequestChanged,
    RequestExists,
    RequestState,
)
from integrator.payments.models import Payment, PaymentError, PaymentStatus
from integrator.payments.rules import is_plain_text

log = logging.getLogger("integrator.cancellation")

REASON_MAX = 500
#: Payment modes collection makes REMITTED at creation (digest 5.1): never cancellable.
NEVER_CANCELLABLE_MODES = frozenset({"ONLINE", "CARD", "ONLINE_NEFT", "ONLINE_RTGS"})
DISHONOURABLE_MODES = frozenset({"CHEQUE", "DD"})
#: A request SENDING this long lost its sender (a call is bounded by DIGIT_READ_TIMEOUT): it is
#: then handled as UNKNOWN, looked up in DIGIT before anything is sent again.
SENDING_ABANDONED_AFTER = timedelta(minutes=5)


class CancellationRefused(PaymentError):
    """A request, approval or rejection that cannot be done; `code` is stable."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# --- ports ----------------------------------------------------------------------------------


class CancellationRequests(Protocol):
    """Where requests are kept (store.cancellations)."""

    def add(self, request: CancellationRequest) -> None:
        """Insert; RequestExists when the payment has a live request."""

    def get(self, request_id: str) -> CancellationRequest | None: ...

    def for_payment(self, payment_id: str) -> list[CancellationRequest]:
        """The payment's requests, newest first."""

    def save(self, request: CancellationRequest) -> CancellationRequest:
        """Write over the version read; returns it with version + 1 (RequestChanged)."""

    def recent(
        self, *, states: Sequence[RequestState] = (), limit: int = 100
    ) -> list[CancellationRequest]: ...

    def awaiting_dues(
        self, *, tenant_id: str, business_service: str, consumer_code: str
    ) -> list[CancellationRequest]:
        """Reversals DIGIT carried out for a payment of this consumer whose dues it has not
        re-opened yet (dues FOLLOWING), newest first."""

    def following_dues(self) -> list[CancellationRequest]:
        """Every DONE request whose dues are FOLLOWING, oldest first."""


class Payments(Protocol):
    def get(self, payment_id: str) -> Payment | None: ...

    def save(self, payment: Payment, *, fence: int | None) -> Payment: ...


class Digit(Protocol):
    """The DIGIT operations a reversal needs (digit.client.DigitClient)."""

    def search_payments(
        self,
        *,
        tenant_id: str,
        module: str,
        bill_ids: Sequence[str] = (),
        receipt_numbers: Sequence[str] = (),
        consumer_codes: Sequence[str] = (),
    ) -> list[DigitPayment]: ...

    def workflow(
        self, *, tenant_id: str, module: str, action: str, items: Sequence[WorkflowItem]
    ) -> list[DigitPayment]: ...

    def fetch_bills(
        self, *, tenant_id: str, business_service: str, consumer_code: str
    ) -> list[Bill]: ...

    def may_cancel(self, module: str, tenant_id: str) -> bool | None: ...


class DuesScheduler(Protocol):
    def follow(self, request_id: str, *, delay_seconds: float) -> None:
        """Make sure the dues of a reversed payment are followed (jobs.cancellation)."""


class ReversalNotifier(Protocol):
    def payment_reversed(self, payment: Payment) -> None:
        """Tell the device's webhook; never raises."""


# --- the use cases --------------------------------------------------------------------------


def _new_id() -> str:
    return f"can_{secrets.token_hex(8)}"


def _digit_message(exc: DigitAnswered) -> str:
    return ("; ".join(e.message for e in exc.errors if e.message) or exc.message)[:500]


class Cancellations:
    """The reversal use cases; collaborators are passed in (DIGIT and RQ as factories, so
    reading requests never builds them)."""

    def __init__(
        self,
        *,
        requests: CancellationRequests,
        payments: Payments,
        digit: Callable[[], Digit],
        dues: Callable[[], DuesScheduler],
        notifier: Callable[[], ReversalNotifier],
        window: timedelta,
        dues_first_delay_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._requests = requests
        self._payments = payments
        self._digit = digit
        self._dues = dues
        self._notifier = notifier
        self._window = window
        self._dues_delay = dues_first_delay_seconds
        self._clock = clock

    # --- reading ---

    def get(self, request_id: str) -> CancellationRequest:
        found = self._requests.get(request_id)
        if found is None:
            raise CancellationRefused("NOT_FOUND", f"no cancellation request {request_id}")
        return found

    def for_payment(self, payment_id: str) -> list[CancellationRequest]:
        return self._requests.for_payment(payment_id)

    def latest_for(self, payment_id: str) -> CancellationRequest | None:
        found = self._requests.for_payment(payment_id)
        return found[0] if found else None

    def recent(
        self, *, states: Sequence[RequestState] = (), limit: int = 100
    ) -> list[CancellationRequest]:
        return self._requests.recent(states=states, limit=limit)

    def dues_reopening(
        self,
        *,
        tenant_id: str,
        business_service: str,
        consumer_code: str,
        shown_bill_ids: Sequence[str] = (),
    ) -> list[CancellationRequest]:
        """This consumer's reversals whose dues DIGIT is still re-opening: until billing's
        asynchronous re-open lands, `_fetchbill` shows the state before the reversal (digest 13):
        often no bill at all, which a device must not read as "nothing due", or after a part
        payment the remainder bill, short of what will be due. `shown_bill_ids`: the bills
        DIGIT shows now; a bill among them that is new since the reversal means billing has
        re-opened the dues already (the dues job records that a little later)."""
        found = self._requests.awaiting_dues(
            tenant_id=tenant_id, business_service=business_service, consumer_code=consumer_code
        )
        if not shown_bill_ids or not found:
            return found
        return [r for r in found if set(shown_bill_ids) <= self._bills_known_at(r)]

    def _bills_known_at(self, request: CancellationRequest) -> set[str]:
        """The consumer's bills as of the reversal: the payment's own and those DIGIT showed
        when the reversal was sent."""
        known = set(request.bills_before)
        payment = self._payments.get(request.payment_id)
        if payment is not None:
            known |= {i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i}
            known |= payment.targeted_bill_ids
        return known

    # --- asking ---

    def request_by_device(
        self, *, device_id: str, payment_id: str, reason: str
    ) -> CancellationRequest:
        """A device asks to cancel a payment it collected, within the window after collecting.
        Returns the request. DIGIT's rules are checked now when DIGIT answers (else at
        approval)."""
        payment = self._payments.get(payment_id)
        if payment is None or payment.device_id != device_id:
            raise CancellationRefused("NOT_FOUND", f"no payment {payment_id}")
        collected = payment.collected_at or payment.created_at
        if self._clock() - collected > self._window:
            minutes = int(self._window.total_seconds() // 60)
            raise CancellationRefused(
                "WINDOW_PASSED",
                f"a device may ask for a cancellation within {minutes} minutes of collecting;"
                " ask an operator",
            )
        return self._request(payment, Action.CANCEL, reason, actor=f"device:{device_id}")

    def request_by_operator(
        self, *, operator: Operator, payment_id: str, reason: str, action: Action = Action.CANCEL
    ) -> CancellationRequest:
        """An operator asks for a CANCEL (any time) or a DISHONOUR of a bounced cheque/DD."""
        if not operator.may_act:
            raise CancellationRefused("NOT_ALLOWED", f"{operator.name} may look but not act")
        payment = self._payments.get(payment_id)
        if payment is None:
            raise CancellationRefused("NOT_FOUND", f"no payment {payment_id}")
        return self._request(payment, action, reason, actor=operator.actor)

    def _request(
        self, payment: Payment, action: Action, reason: str, *, actor: str
    ) -> CancellationRequest:
        reason = _checked_reason(reason)
        _require_reversible(payment, action)
        live = [r for r in self._requests.for_payment(payment.id) if _is_live(r)]
        if live:
            raise CancellationRefused(
                "ALREADY_REQUESTED",
                f"payment {payment.id} has request {live[0].id} ({live[0].state})",
            )
        try:
            self._check_digit_rules(payment, action)
        except CancellationRefused as exc:
            if exc.code != "DIGIT_NO_ANSWER":
                raise
            log.info("cancellation requested while DIGIT cannot be asked; checked at approval")
        now = self._clock()
        made = CancellationRequest(
            id=_new_id(),
            payment_id=payment.id,
            action=action,
            reason=reason,
            requested_by=actor,
            requested_at=now,
        )
        try:
            self._requests.add(made)
        except RequestExists:
            raise CancellationRefused(
                "ALREADY_REQUESTED", f"payment {payment.id} has a request under way"
            ) from None
        self._record(
            payment,
            "reversal_requested",
            actor=actor,
            reason=reason,
            # the request's own time: GET /v1/payments/{id} shows it as the 202 answer did
            detail={
                "requestId": made.id,
                "action": action.value,
                "requestedAt": made.requested_at.isoformat(),
            },
        )
        log.info(
            "reversal requested",
            extra={"payment_id": payment.id, "request_id": made.id, "action": action.value},
        )
        return made

    # --- deciding ---

    def reject(self, request_id: str, *, operator: Operator, note: str = "") -> CancellationRequest:
        request = self.get(request_id)
        self._require_checker(request, operator)
        if request.state is not RequestState.REQUESTED:
            raise CancellationRefused("NOT_PENDING", f"request {request_id} is {request.state}")
        decided = replace(
            request,
            state=RequestState.REJECTED,
            decided_by=operator.actor,
            decided_at=self._clock(),
            decision_note=note.strip() or None,
        )
        saved = self._save(decided)
        payment = self._payments.get(request.payment_id)
        if payment is not None:
            self._record(
                payment,
                "reversal_rejected",
                actor=operator.actor,
                reason=note.strip() or None,
                detail={"requestId": request.id},
            )
        return saved

    def approve(self, request_id: str, *, operator: Operator) -> CancellationRequest:
        """Check DIGIT's rules, send one `_workflow` call, record the outcome.

        A request left UNKNOWN (no answer to the call) is approved again by looking first: when
        DIGIT shows the payment reversed, the request is completed without sending; otherwise the
        call is sent again (DIGIT refuses a payment no longer among its candidates).
        """
        request = self.get(request_id)
        self._require_checker(request, operator)
        if request.state is RequestState.SENDING and self._abandoned(request):
            # the process that sent it died before recording DIGIT's answer: an unknown outcome
            request = self._save(replace(request, state=RequestState.UNKNOWN))
        if request.state not in (RequestState.REQUESTED, RequestState.UNKNOWN):
            raise CancellationRefused("NOT_PENDING", f"request {request_id} is {request.state}")
        payment = self._payments.get(request.payment_id)
        if payment is None:
            raise CancellationRefused("NOT_FOUND", f"no payment {request.payment_id}")
        if request.state is RequestState.UNKNOWN:
            found = self._digit_payment(payment)
            if found is not None and _reversed_by(found, request.action):
                return self._complete(request, payment, found, actor=operator.actor)
        _require_reversible(payment, request.action)
        found = self._check_digit_rules(payment, request.action)
        bills_before = self._current_bill_ids(payment)
        sending = self._save(
            replace(
                request,
                state=RequestState.SENDING,
                decided_by=request.decided_by or operator.actor,
                decided_at=request.decided_at or self._clock(),
                sent_at=self._clock(),
                bills_before=tuple(sorted(set(request.bills_before) | set(bills_before))),
            )
        )
        try:
            answers = self._digit().workflow(
                tenant_id=found.tenant_id,
                module=_module_of(payment),
                action=request.action.value,
                items=[
                    WorkflowItem(
                        payment_id=found.id,
                        reason=request.reason,
                        additional_details={"integratorCancellationId": request.id},
                    )
                ],
            )
        except DigitAnswered as exc:
            if request.state is RequestState.UNKNOWN:
                return self._refused_after_unanswered(sending, payment, found, exc, operator)
            return self._refused(sending, payment, exc, actor=operator.actor)
        except DigitError as exc:
            self._save(
                replace(
                    sending,
                    state=RequestState.UNKNOWN,
                    digit_message=f"{type(exc).__name__}: {exc}"[:500],
                )
            )
            self._record(
                payment,
                "reversal_unknown",
                actor=operator.actor,
                reason="no usable answer from DIGIT",
                detail={"requestId": request.id, "error": type(exc).__name__},
            )
            raise CancellationRefused(
                "DIGIT_NO_ANSWER",
                "DIGIT gave no usable answer to the cancellation; approve again to look in DIGIT"
                " first (it is never sent twice blindly)",
            ) from exc
        answer = next((p for p in answers if p.id == found.id), None)
        if answer is None or not _reversed_by(answer, request.action):
            self._save(
                replace(
                    sending,
                    state=RequestState.UNKNOWN,
                    digit_message="DIGIT's answer does not show the payment reversed",
                )
            )
            self._record(
                payment,
                "reversal_unknown",
                actor=operator.actor,
                reason="DIGIT's answer does not show the payment reversed",
                detail={"requestId": request.id},
            )
            raise CancellationRefused(
                "DIGIT_NO_ANSWER",
                "DIGIT's answer does not show the payment reversed; approve again to look first",
            )
        return self._complete(sending, payment, answer, actor=operator.actor)

    def _complete(
        self,
        request: CancellationRequest,
        payment: Payment,
        answer: DigitPayment,
        *,
        actor: str,
    ) -> CancellationRequest:
        now = self._clock()
        done = self._save(
            replace(
                request,
                state=RequestState.DONE,
                decided_by=request.decided_by or actor,
                decided_at=request.decided_at or now,
                completed_at=now,
                digit_codes=(),
                digit_message=None,
                digit_answer={
                    "id": answer.id,
                    "paymentStatus": answer.payment_status,
                    "instrumentStatus": answer.instrument_status,
                    "receiptNumbers": [d.receipt_number for d in answer.details],
                },
                dues_state=DuesState.FOLLOWING,
            )
        )
        moved = states.transition(
            payment,
            request.action.status,
            actor=actor,
            reason=request.reason,
            at=now,
            detail={
                "requestId": request.id,
                "action": request.action.value,
                "requestedBy": request.requested_by,
                "requestedAt": request.requested_at.isoformat(),
                "approvedBy": done.decided_by,
                "digitPaymentId": answer.id,
                "paymentStatus": answer.payment_status,
            },
        )
        try:
            saved = self._payments.save(moved, fence=None)
        except Exception:
            # DIGIT reversed it: the request says so; the payment is saved again by the dues
            # job (it re-applies a DONE request's status), so a lost save is not lost for good.
            log.exception("reversal done in DIGIT but the payment could not be saved")
            saved = payment
        else:
            self._notifier().payment_reversed(saved)
        try:
            self._dues().follow(done.id, delay_seconds=self._dues_delay)
        except Exception:
            log.exception("could not schedule the dues to be followed")
        log.info(
            "payment reversed in DIGIT",
            extra={"payment_id": payment.id, "request_id": done.id, "action": done.action.value},
        )
        return done

    def _refused(
        self,
        request: CancellationRequest,
        payment: Payment,
        exc: DigitAnswered,
        *,
        actor: str,
    ) -> CancellationRequest:
        codes = exc.codes
        message = _digit_message(exc)
        self._save(
            replace(request, state=RequestState.REFUSED, digit_codes=codes, digit_message=message)
        )
        self._record(
            payment,
            "reversal_refused",
            actor=actor,
            reason="DIGIT refused the reversal",
            codes=codes,
            detail={"requestId": request.id},
        )
        raise CancellationRefused(
            "DIGIT_REFUSED",
            f"DIGIT refused the {request.action.value}: {', '.join(codes)} ({message})",
        ) from exc

    def _refused_after_unanswered(
        self,
        request: CancellationRequest,
        payment: Payment,
        found: DigitPayment,
        exc: DigitAnswered,
        operator: Operator,
    ) -> CancellationRequest:
        """DIGIT refused a call sent again after one it left unanswered. That first call may
        have committed meanwhile (nothing in `_workflow` times out, digest corrections 10, so
        it may still commit later): a payment DIGIT now shows reversed completes the request;
        otherwise the request stays UNKNOWN, DIGIT's codes kept, until `settle_unanswered`
        decides it once the first call can no longer commit."""
        now_found = self._look_quietly(payment)
        if now_found is not None and _reversed_by(now_found, request.action):
            return self._complete(request, payment, now_found, actor=operator.actor)
        self._save(
            replace(
                request,
                state=RequestState.UNKNOWN,
                digit_codes=exc.codes,
                digit_message=f"refused when sent again: {_digit_message(exc)}"[:500],
            )
        )
        raise CancellationRefused(
            "DIGIT_NO_ANSWER",
            f"DIGIT refused the call sent again ({', '.join(exc.codes)}), but the first call,"
            " never answered, may still be applied: the request stays open and is looked up in"
            " DIGIT until that can no longer happen",
        ) from exc

    def _look_quietly(self, payment: Payment) -> DigitPayment | None:
        try:
            return self._digit_payment(payment)
        except CancellationRefused:
            return None

    # --- requests DIGIT left unanswered: looked up, never sent again (the worker's sweep) ---

    def unanswered(self) -> list[CancellationRequest]:
        """Requests whose `_workflow` call has no known outcome: UNKNOWN, or SENDING by a
        process that died before recording DIGIT's answer."""
        found = self._requests.recent(
            states=(RequestState.UNKNOWN, RequestState.SENDING), limit=1000
        )
        return [r for r in found if r.state is RequestState.UNKNOWN or self._abandoned(r)]

    def settle_unanswered(self, request_id: str, *, settle: timedelta) -> CancellationRequest:
        """One look in DIGIT for a request left unanswered, nothing sent. DIGIT shows the
        payment reversed: the request is DONE (and its dues followed). DIGIT shows it not
        reversed `settle` after the last call was sent, when that call can no longer commit:
        REFUSED, saying DIGIT never applied it, so a new request can be made. Otherwise, or
        when DIGIT does not answer, unchanged (looked at again next time)."""
        request = self.get(request_id)
        if request.state is RequestState.SENDING:
            if not self._abandoned(request):
                return request
            # its sender died before recording DIGIT's answer: an unknown outcome (the console
            # offers UNKNOWN requests to be approved again, which looks first)
            request = self._save(replace(request, state=RequestState.UNKNOWN))
        if request.state is not RequestState.UNKNOWN:
            return request
        payment = self._payments.get(request.payment_id)
        if payment is None:
            return request
        try:
            found = self._digit_payment(payment)
        except CancellationRefused:
            return request  # DIGIT could not be asked: next time
        if found is not None and _reversed_by(found, request.action):
            log.warning(
                "a reversal DIGIT left unanswered was applied",
                extra={"payment_id": payment.id, "request_id": request.id},
            )
            return self._complete(request, payment, found, actor="worker")
        if found is None:
            # not finding our payment says nothing about the reversal (approve refuses on it
            # too): the request stays UNKNOWN for a person, never closed on it
            log.warning(
                "a reversal left unanswered cannot be settled: DIGIT does not show the payment",
                extra={"payment_id": payment.id, "request_id": request.id},
            )
            return request
        sent = request.sent_at or request.decided_at or request.requested_at
        if self._clock() - sent < settle:
            return request
        closed = self._save(
            replace(
                request,
                state=RequestState.REFUSED,
                digit_message=(
                    f"DIGIT never applied the {request.action.value}: not shown reversed"
                    f" {int(settle.total_seconds() // 60)} minutes after the last call"
                    + (f" ({request.digit_message})" if request.digit_message else "")
                )[:500],
            )
        )
        self._record(
            payment,
            "reversal_not_applied",
            actor="worker",
            reason="DIGIT never applied the reversal left unanswered",
            codes=request.digit_codes,
            detail={"requestId": request.id},
        )
        return closed

    def following_dues(self) -> list[CancellationRequest]:
        """DONE requests whose dues are still FOLLOWING (the sweep makes sure each has a job)."""
        return self._requests.following_dues()

    def stop_following(self, request_id: str, *, overdue: timedelta) -> bool:
        """Record GAVE_UP for a request whose dues are still FOLLOWING `overdue` after the
        reversal: its looks keep failing (a job replaced again and again never reaches its last
        try), and a device must not be told "re-opening" for good. True if it did."""
        request = self.get(request_id)
        if request.state is not RequestState.DONE or request.dues_state is not DuesState.FOLLOWING:
            return False
        now = self._clock()
        if request.completed_at is None or now - request.completed_at < overdue:
            return False
        self._save(replace(request, dues_state=DuesState.GAVE_UP, dues_checked_at=now))
        payment = self._payments.get(request.payment_id)
        if payment is not None:
            self._record(
                payment,
                "dues_gave_up",
                actor="worker",
                reason="the re-opened dues could not be followed in time",
                detail={"requestId": request.id},
            )
        log.warning(
            "stopped following the dues after a reversal",
            extra={"payment_id": request.payment_id, "request_id": request.id},
        )
        return True

    # --- the dues after a reversal ---

    def follow_dues(self, request_id: str, *, last_try: bool) -> CancellationRequest:
        """One look at the consumers' bills after a reversal; returns the request (its
        `dues_state` FOLLOWING while billing has not re-opened the dues yet)."""
        request = self.get(request_id)
        if request.state is not RequestState.DONE or request.dues_state is not DuesState.FOLLOWING:
            return request
        payment = self._payments.get(request.payment_id)
        if payment is None:
            return request
        if payment.status is PaymentStatus.REGISTERED:  # the save after DIGIT's answer was lost
            self._repair_status(request, payment)
        now = self._clock()
        try:
            current = self._current_bills(payment)
        except DigitError:
            if last_try:
                return self._save(
                    replace(request, dues_state=DuesState.GAVE_UP, dues_checked_at=now)
                )
            return request
        old = {i for b in payment.bills for i in (b.bill_id, b.retargeted_from) if i}
        old |= payment.targeted_bill_ids
        known = old | set(request.bills_before)
        successors: dict[str, str | None] = {}
        for bill in payment.bills:
            fresh = [
                b
                for b in current
                if b.consumer_code == bill.consumer_code
                and b.business_service == bill.business_service
                and b.id not in known
            ]
            successors[bill.bill_id] = fresh[0].id if fresh else None
        if all(successors.values()):
            state = DuesState.REOPENED
        elif last_try:
            state = DuesState.REOPENED if any(successors.values()) else DuesState.NONE_DUE
        else:
            return self._save(replace(request, dues_checked_at=now, successor_bills=successors))
        saved = self._save(
            replace(request, dues_state=state, successor_bills=successors, dues_checked_at=now)
        )
        updated = self._payments.get(payment.id) or payment
        self._record(
            updated,
            "dues_reopened" if state is DuesState.REOPENED else "dues_none",
            actor="worker",
            detail={"requestId": request.id, "successorBills": dict(successors)},
        )
        return saved

    def _repair_status(self, request: CancellationRequest, payment: Payment) -> None:
        moved = states.transition(
            payment,
            request.action.status,
            actor=request.decided_by or "worker",
            reason=request.reason,
            at=request.completed_at or self._clock(),
            detail={"requestId": request.id, "requestedBy": request.requested_by},
        )
        self._payments.save(moved, fence=None)
        self._notifier().payment_reversed(moved)

    # --- DIGIT's rules, checked before sending ---

    def _check_digit_rules(self, payment: Payment, action: Action) -> DigitPayment:
        modules = sorted({b.business_service for b in payment.bills})
        digit = self._digit()
        for module in modules:
            allowed = digit.may_cancel(module, payment.tenant_id)
            if allowed is None:
                # a write DIGIT's gateway would refuse unless the deployment added the action
                # (Punjab has none for WS/SW): not sent until DIGIT_CANCEL_ROLE_CODES names it
                raise CancellationRefused(
                    "NO_WORKFLOW_ROLE",
                    f"no payments/{module}/_workflow role is known for {module}"
                    " (DIGIT_CANCEL_ROLE_CODES); DIGIT would refuse",
                )
            if not allowed:
                raise CancellationRefused(
                    "NO_WORKFLOW_ROLE",
                    f"our DIGIT account holds no payments/{module}/_workflow role in"
                    f" {payment.tenant_id} (see `integrator check`): DIGIT would refuse",
                )
        found = self._digit_payment(payment)
        if found is None:
            raise CancellationRefused(
                "DIGIT_PAYMENT_NOT_FOUND",
                f"DIGIT does not show payment {payment.digit_payment_id} of {payment.id}",
            )
        if found.tenant_id != payment.tenant_id:
            raise CancellationRefused(
                "MIXED_TENANTS",
                f"DIGIT's payment is in {found.tenant_id}, ours in {payment.tenant_id}:"
                " one workflow call acts on one tenant",
            )
        if action is Action.CANCEL and found.payment_mode.upper() in NEVER_CANCELLABLE_MODES:
            raise CancellationRefused(
                "MODE_NOT_CANCELLABLE",
                f"{found.payment_mode} payments are REMITTED at creation: DIGIT never cancels them",
            )
        instrument = (found.instrument_status or "").upper()
        if instrument not in action.instrument_statuses:
            raise CancellationRefused(
                "INSTRUMENT_NOT_APPROVED",
                f"DIGIT's instrumentStatus is {instrument or 'missing'}; {action.value} needs"
                f" {' or '.join(sorted(action.instrument_statuses))}",
            )
        newer = self._newer_receipts(payment, found, action)
        if newer:
            raise CancellationRefused(
                "NOT_NEWEST",
                "DIGIT reverses only the newest payment of a consumer; newer receipt"
                f"{'s' if len(newer) > 1 else ''}: {', '.join(newer)}",
            )
        return found

    def _digit_payment(self, payment: Payment) -> DigitPayment | None:
        """Our payment as DIGIT shows it now (searched by its receipts, else its bills)."""
        digit = self._digit()
        try:
            for module in sorted({b.business_service for b in payment.bills}):
                if payment.receipt_numbers:
                    found = digit.search_payments(
                        tenant_id=payment.tenant_id,
                        module=module,
                        receipt_numbers=list(payment.receipt_numbers),
                    )
                else:
                    found = digit.search_payments(
                        tenant_id=payment.tenant_id, module=module, bill_ids=list(payment.bill_ids)
                    )
                for candidate in found:
                    if candidate.id == payment.digit_payment_id:
                        return candidate
        except DigitError as exc:
            raise CancellationRefused(
                "DIGIT_NO_ANSWER",
                f"DIGIT could not be asked ({type(exc).__name__}); nothing was sent",
            ) from exc
        return None

    def _newer_receipts(self, payment: Payment, ours: DigitPayment, action: Action) -> list[str]:
        """Receipts of DIGIT payments newer than ours, for one of its consumers, that the action
        would also consider (its candidates: digest 13 rule 4)."""
        newer: list[str] = []
        mine = ours.transaction_date
        by_module: dict[str, set[str]] = {}
        for bill in payment.bills:
            by_module.setdefault(bill.business_service, set()).add(bill.consumer_code)
        try:
            for module, codes in sorted(by_module.items()):
                for other in self._digit().search_payments(
                    tenant_id=payment.tenant_id, module=module, consumer_codes=sorted(codes)
                ):
                    if other.id == ours.id or other.tenant_id != ours.tenant_id:
                        continue
                    if (other.instrument_status or "").upper() not in action.instrument_statuses:
                        continue
                    if action is Action.DISHONOUR and other.payment_mode not in DISHONOURABLE_MODES:
                        continue
                    if mine is not None and other.transaction_date is not None:
                        if other.transaction_date <= mine:
                            continue
                    elif mine is not None or other.transaction_date is None:
                        continue
                    newer.extend(
                        d.receipt_number
                        for d in other.details
                        if d.consumer_code in codes or d.consumer_code is None
                    )
        except DigitError as exc:
            raise CancellationRefused(
                "DIGIT_NO_ANSWER",
                f"DIGIT could not be asked ({type(exc).__name__}); nothing was sent",
            ) from exc
        return sorted(set(newer))

    def _current_bills(self, payment: Payment) -> list[Bill]:
        digit = self._digit()
        found: list[Bill] = []
        for module, code in sorted({(b.business_service, b.consumer_code) for b in payment.bills}):
            found.extend(
                digit.fetch_bills(
                    tenant_id=payment.tenant_id, business_service=module, consumer_code=code
                )
            )
        return found

    def _current_bill_ids(self, payment: Payment) -> list[str]:
        try:
            return [b.id for b in self._current_bills(payment)]
        except DigitError as exc:
            raise CancellationRefused(
                "DIGIT_NO_ANSWER",
                f"DIGIT could not be asked ({type(exc).__name__}); nothing was sent",
            ) from exc

    # --- helpers ---

    def _abandoned(self, request: CancellationRequest) -> bool:
        sent = request.sent_at or request.decided_at
        return sent is None or self._clock() - sent > SENDING_ABANDONED_AFTER

    @staticmethod
    def _require_checker(request: CancellationRequest, operator: Operator) -> None:
        if not operator.may_act:
            raise CancellationRefused("NOT_ALLOWED", f"{operator.name} may look but not act")
        if request.requested_by == operator.actor:
            raise CancellationRefused(
                "SAME_PERSON", "a second operator, not the requester, decides a request"
            )

    def _save(self, request: CancellationRequest) -> CancellationRequest:
        try:
            return self._requests.save(request)
        except RequestChanged:
            raise CancellationRefused(
                "CHANGED", f"request {request.id} changed meanwhile: reload and decide again"
            ) from None
        except RequestExists:
            raise CancellationRefused(
                "ALREADY_REQUESTED", f"payment {request.payment_id} has a request under way"
            ) from None

    def _record(
        self,
        payment: Payment,
        event: str,
        *,
        actor: str,
        reason: str | None = None,
        codes: Sequence[str] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """A history entry on the payment; a concurrent change is retried once on a fresh copy
        (history is only appended to)."""
        for _ in range(2):
            entry = states.record(
                payment, event, actor=actor, at=self._clock(), reason=reason, codes=codes,
                detail=detail,
            )  # fmt: skip
            try:
                self._payments.save(entry, fence=None)
                return
            except Exception:
                fresh = self._payments.get(payment.id)
                if fresh is None:
                    return
                payment = fresh
        log.warning("could not record a reversal event", extra={"payment_id": payment.id})


def _checked_reason(reason: str) -> str:
    cleaned = (reason or "").strip()
    if not 1 <= len(cleaned) <= REASON_MAX:
        raise CancellationRefused(
            "REASON_REQUIRED", f"say why in 1-{REASON_MAX} characters", field="reason"
        )
    if not is_plain_text(cleaned):  # NUL fails the ledger's write; no control belongs in words
        raise CancellationRefused(
            "REASON_REQUIRED",
            "say why without control characters (such as NUL) or unpaired surrogates",
            field="reason",
        )
    return cleaned


def _require_reversible(payment: Payment, action: Action) -> None:
    if payment.status is not PaymentStatus.REGISTERED or not payment.digit_payment_id:
        raise CancellationRefused(
            "NOT_REGISTERED",
            f"payment {payment.id} is {payment.status}: only a payment DIGIT holds (REGISTERED)"
            " can be reversed",
        )
    mode = payment.payment_mode.upper()
    if action is Action.CANCEL and mode in NEVER_CANCELLABLE_MODES:
        raise CancellationRefused(
            "MODE_NOT_CANCELLABLE",
            f"{mode} payments are REMITTED at creation: DIGIT never cancels them",
        )
    if action is Action.DISHONOUR and mode not in DISHONOURABLE_MODES:
        raise CancellationRefused(
            "NOT_A_CHEQUE", f"only CHEQUE and DD payments are dishonoured; this one is {mode}"
        )


def _is_live(request: CancellationRequest) -> bool:
    return request.state not in (RequestState.REJECTED, RequestState.REFUSED)


def _reversed_by(payment: DigitPayment, action: Action) -> bool:
    return (payment.payment_status or "").upper() == action.status.value


def _module_of(payment: Payment) -> str:
    """The module whose `_workflow` URL carries the call (RBAC only, digest 13): the first
    bill's; every module of the payment was checked for the role before."""
    return payment.bills[0].business_service
