"""The registration job: take a payment id, run the one registration path, decide what next.

Thin on purpose: the attempt is `Registrar.attempt`, the waits are `RetryPolicy`. The job
reschedules itself by *returning* `rq.Retry` (RQ 3 re-schedules the same job id `register-{id}`
after `interval` seconds), so at most one job per payment exists at any time.
"""

from __future__ import annotations

import logging
from typing import Final

from rq import Retry

from integrator.jobs import context
from integrator.payments.models import Payment
from integrator.payments.registration import (
    DIGIT_AUTH_BLOCKED,
    DIGIT_FORBIDDEN,
    RETRIES_EXHAUSTED,
    AttemptOutcome,
    AttemptResult,
)

log = logging.getLogger("integrator.jobs")

ACTOR: Final = "worker"
#: The job keeps returning Retry until the payment is decided; the policy, not RQ, gives up.
RETRY_FOREVER: Final = 10**9


def register_payment(payment_id: str) -> Retry | None:
    """RQ job: one registration attempt for `payment_id`; Retry(interval) when not decided."""
    ctx = context.current()
    now = ctx.clock()

    def exhausted(payment: Payment) -> str | None:
        return RETRIES_EXHAUSTED if ctx.policy.exhausted(payment, now) else None

    # the payment is read with its lease: one statement decides between attempt and give-up
    outcome = ctx.registrar.attempt(payment_id, actor=ACTOR, give_up_if=exhausted)
    if outcome.result is AttemptResult.FINISHED:  # registered or decided meanwhile: nothing to do
        return None
    if outcome.result is AttemptResult.RETRY_LATER and ctx.policy.exhausted(
        outcome.payment, ctx.clock()
    ):
        outcome = ctx.registrar.give_up(payment_id, actor=ACTOR, reason=RETRIES_EXHAUSTED)
    elif outcome.result is AttemptResult.AUTH_BLOCKED and ctx.policy.blocked_too_long(
        outcome.payment, ctx.clock()
    ):
        reason = DIGIT_FORBIDDEN if outcome.cause == "DigitForbidden" else DIGIT_AUTH_BLOCKED
        outcome = ctx.registrar.give_up(payment_id, actor=ACTOR, reason=reason)
    ctx.outage.note(payment_id, outcome, at=now)
    delay = ctx.policy.next_delay(outcome, ctx.clock())
    _log(payment_id, outcome, delay)
    if delay is None:
        return None
    return Retry(max=RETRY_FOREVER, interval=delay)


def _log(payment_id: str, outcome: AttemptOutcome, delay: int | None) -> None:
    log.info(
        "registration attempt ended",
        extra={
            "payment_id": payment_id,
            "result": outcome.result.value,
            "cause": outcome.cause,
            "codes": list(outcome.codes),
            "next_attempt_in_seconds": delay,
        },
    )
