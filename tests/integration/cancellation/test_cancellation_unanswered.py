"""Reversals DIGIT left unanswered: its `_workflow` may be applied long after the gateway gave up
(digest 13: the pdf-service call has no timeout; corrections 10). Looked up, never sent blindly;
the worker's maintenance loop decides them, and replaces a dues job that was lost."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from decimal import Decimal

import redis as redis_lib
from rq.job import Job

from integrator.jobs.cancellation import job_id_for
from integrator.payments.cancellation import (
    CancellationRefused,
    Cancellations,
    DuesState,
    RequestState,
)
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.e2e.conftest import Sandbox, body_of
from tests.integration.cancellation.conftest import AMRITSAR, ASHA, PT_RAMESH, RAVI, Device, pay
from tests.integration.jobs.conftest import wait_until

Workers = Callable[..., subprocess.Popen[bytes]]


def _unanswered(cancellations: Cancellations, request_id: str) -> CancellationRefused:
    try:
        cancellations.approve(request_id, operator=RAVI)
    except CancellationRefused as exc:
        assert exc.code == "DIGIT_NO_ANSWER", exc.message
        return exc
    raise AssertionError("DIGIT's timeout was taken for an answer")


def _held_cancellation(
    device: Device,
    cancellations: Cancellations,
    world: Sandbox,
    *,
    hold_seconds: float,
    amount: Decimal | None = None,
) -> tuple[str, str]:
    """A payment whose cancellation DIGIT holds: (payment id, request id), the request UNKNOWN."""
    paid = pay(device.pos, amount=amount)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    world.faults(hold_workflows=1, hold_seconds=hold_seconds, gateway_timeout_seconds=0.2)
    _unanswered(cancellations, made.id)
    assert cancellations.get(made.id).state is RequestState.UNKNOWN
    return paid["id"], made.id


def test_a_call_sent_again_and_refused_because_the_first_was_applied_late_completes_it(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox
) -> None:
    payment_id, request_id = _held_cancellation(device, cancellations, world, hold_seconds=1.5)
    payment = services.payments_store.get(payment_id)
    assert payment is not None
    looked = services.cancellations._digit_payment(payment)
    assert looked is not None and looked.payment_status != "CANCELLED"
    original_rules = Cancellations._check_digit_rules

    def after_the_late_commit(self: Cancellations, payment: object, action: object) -> object:
        # the look said "not reversed"; the first call lands before the second is sent
        wait_until(lambda: world.counters().get("late_workflow"), timeout=10, what="late commit")
        return looked

    try:
        Cancellations._check_digit_rules = after_the_late_commit  # type: ignore[method-assign,assignment]
        done = cancellations.approve(request_id, operator=RAVI)
    finally:
        Cancellations._check_digit_rules = original_rules  # type: ignore[method-assign]

    # DIGIT refused the second call (no longer editable) because the first one was applied
    assert done.state is RequestState.DONE and done.dues_state is DuesState.FOLLOWING
    assert world.counters().get("workflow_cancel") == 1
    stored = services.payments_store.get(payment_id)
    assert stored is not None and stored.status is PaymentStatus.CANCELLED


def test_a_call_sent_again_and_refused_stays_open_while_the_first_may_still_land(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox
) -> None:
    payment_id, request_id = _held_cancellation(
        device, cancellations, world, hold_seconds=600, amount=Decimal(1000)
    )
    # a counter clerk's payment of the remainder makes ours no longer the newest: DIGIT refuses
    world.pass_backupdate_lag()
    world.admin("counter-payment", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    payment = services.payments_store.get(payment_id)
    assert payment is not None
    looked = services.cancellations._digit_payment(payment)
    original_rules = Cancellations._check_digit_rules
    try:
        Cancellations._check_digit_rules = lambda self, payment, action: looked  # type: ignore[method-assign,assignment,misc]
        refused = _unanswered(cancellations, request_id)
    finally:
        Cancellations._check_digit_rules = original_rules  # type: ignore[method-assign]

    assert "may still be applied" in refused.message
    stored = cancellations.get(request_id)
    assert stored.state is RequestState.UNKNOWN  # not REFUSED: the held call may yet land
    assert stored.digit_codes == ("RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE",)


def test_the_worker_completes_a_reversal_digit_applied_after_giving_no_answer(
    device: Device,
    cancellations: Cancellations,
    services: Services,
    world: Sandbox,
    workers: Workers,
) -> None:
    payment_id, request_id = _held_cancellation(device, cancellations, world, hold_seconds=1.5)
    workers()

    done = wait_until(
        lambda: (r := cancellations.get(request_id)).state is RequestState.DONE and r,
        timeout=30,
        what="the worker to find the reversal applied",
    )

    assert done.decided_by == "operator:ravi"
    assert world.counters().get("workflow_cancel") == 1  # looked up, never sent again
    stored = services.payments_store.get(payment_id)
    assert stored is not None and stored.status is PaymentStatus.CANCELLED
    [moved] = [h for h in stored.history if h.to_status is PaymentStatus.CANCELLED]
    assert moved.actor == "worker"
    # and its dues are followed as after any reversal
    wait_until(
        lambda: cancellations.get(request_id).dues_state is DuesState.REOPENED,
        timeout=30,
        what="the re-opened dues",
    )


def test_the_worker_closes_a_reversal_digit_never_applied_once_it_no_longer_can(
    device: Device,
    cancellations: Cancellations,
    services: Services,
    world: Sandbox,
    workers: Workers,
) -> None:
    payment_id, request_id = _held_cancellation(device, cancellations, world, hold_seconds=600)
    workers(CREATE_SETTLE_SECONDS="2")

    closed = wait_until(
        lambda: (r := cancellations.get(request_id)).state is RequestState.REFUSED and r,
        timeout=30,
        what="the worker to close the request",
    )

    assert closed.digit_message is not None and "never applied" in closed.digit_message
    stored = services.payments_store.get(payment_id)
    assert stored is not None and stored.status is PaymentStatus.REGISTERED
    assert [h.event for h in stored.history][-1] == "reversal_not_applied"
    shown = body_of(device.pos.get(f"/v1/payments/{payment_id}"))
    assert shown["status"] == "REGISTERED" and shown["reversal"]["state"] == "REFUSED"
    assert world.counters().get("workflow_cancel", 0) == 0
    # the payment may be asked for again
    again = cancellations.request_by_operator(operator=ASHA, payment_id=payment_id, reason="y")
    assert again.state is RequestState.REQUESTED


def test_the_worker_replaces_a_dues_job_that_was_lost(
    device: Device,
    cancellations: Cancellations,
    world: Sandbox,
    workers: Workers,
    redis: redis_lib.Redis,
) -> None:
    paid = pay(device.pos)
    world.pass_backupdate_lag()
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    done = cancellations.approve(made.id, operator=RAVI)
    assert done.dues_state is DuesState.FOLLOWING
    Job.fetch(job_id_for(done.id), connection=redis).delete()  # Redis lost it
    time.sleep(0.2)

    workers()

    wait_until(
        lambda: cancellations.get(done.id).dues_state is DuesState.REOPENED,
        timeout=30,
        what="the dues followed by a replaced job",
    )
