"""DIGIT outages: remember which payments wait for DIGIT, and release them when it answers.

An attempt that ends RETRY_LATER because DIGIT was unavailable (`DigitUnavailable`: no answer,
5xx, 429, 502) sets "digit down since" (kept until DIGIT answers) and adds its payment to the
waiting set. While the flag is set, the worker's maintenance loop pings DIGIT every
`digit_probe_seconds`; on the first answer every waiting payment's job is moved to "now",
instead of waiting for its next (up to hourly) slot.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis as redis_lib

from integrator.jobs.scheduling import RqRegistrationScheduler
from integrator.payments.registration import AttemptOutcome, AttemptResult
from integrator.store import keys
from integrator.store.codec import as_text
from integrator.store.outage import digit_down_since

log = logging.getLogger("integrator.jobs")

UNAVAILABLE_CAUSE = "DigitUnavailable"


class DigitOutage:
    """The "digit down since" flag and the payments waiting for DIGIT."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis

    def note(self, payment_id: str, outcome: AttemptOutcome, *, at: datetime) -> None:
        """Record what an attempt learned about DIGIT's availability."""
        if outcome.result is AttemptResult.RETRY_LATER and outcome.cause == UNAVAILABLE_CAUSE:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(keys.digit_down_since(), at.isoformat(), nx=True)
            pipe.sadd(keys.waiting_for_digit(), payment_id)
            pipe.execute()
        elif outcome.result is not AttemptResult.BUSY:
            self._redis.srem(keys.waiting_for_digit(), payment_id)

    def down_since(self) -> str | None:
        return digit_down_since(self._redis)

    def waiting(self) -> list[str]:
        return sorted(as_text(m) for m in self._redis.smembers(keys.waiting_for_digit()))

    def release(self, scheduler: RqRegistrationScheduler) -> int:
        """DIGIT answers again: clear the flag and run every waiting payment's job now."""
        self._redis.delete(keys.digit_down_since())
        ids = self.waiting()
        for payment_id in ids:
            # forget it first: if its attempt finds DIGIT down again, it is added back
            self._redis.srem(keys.waiting_for_digit(), payment_id)
            try:
                scheduler.schedule(payment_id, delay_seconds=0)
            except Exception:
                self._redis.sadd(keys.waiting_for_digit(), payment_id)
                raise
        log.info("DIGIT answers again; released waiting payments", extra={"released": len(ids)})
        return len(ids)
