"""Marks in Redis of the consumers that may have an open payment of ours, so that GET /v1/bills
(the busiest request) asks the ledger only about those.

The ledger (`payment_consumers.open`, integrator.store.payments) stays the truth; a mark is a
conservative hint kept by the one code path that opens and closes claims:

  * PaymentStore.create adds the payment's id to each of its consumers' marks *before* its
    transaction commits, and takes it out again when nothing was written (replay, conflict);
  * PaymentStore.save takes it out *after* the commit that releases the claims, and adds it
    *before* the commit that reopens them (a payment back to PENDING from NEEDS_ATTENTION: an
    operator's retry of a quarantined offline payment, which is stored with its claims closed).

So while a claim is open in the ledger its mark is present; a mark may outlive its claim (a crash
or a Redis error between the commit and the removal, or a reopening the ledger refused), which
only costs a ledger read. Nothing else opens a claim.

A consumer's set also holds `reversal:<request id>` while a reversal of one of its payments waits
for DIGIT to re-open the dues (integrator.store.cancellations): its bills then show the state
before the reversal, and GET /v1/bills asks the ledger which reversals those are. That member is
a hint only: added before the ledger says FOLLOWING, removed after it stops saying so, but a
failed add is logged and not raised (DIGIT has already reversed the payment by then).

A missing mark means "no open payment" only once the marks are complete: `rebuild` copies every
open claim from the ledger and then sets the completion key. Creators mark whether or not the
marks are complete, so a payment created during a rebuild is marked either way. If Redis loses its
data the completion key goes with the marks and readers fall back to the ledger until the next
rebuild. A ledger write that bypasses PaymentStore (a script, a PaymentStore built without marks)
would not be marked: every PaymentStore the services build gets the marks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import redis as redis_lib

from integrator.store import keys
from integrator.store.redis_batcher import RedisBatcher, pipelined

Consumer = tuple[str, str, str]  # (tenant_id, business_service, consumer_code)
#: Every open claim in the ledger: (tenant_id, business_service, consumer_code, payment_id).
ReadOpenClaims = Callable[[], Sequence[tuple[str, str, str, str]]]

#: Members that are reversals whose dues are re-opening, not payments (see the docstring).
REVERSAL_PREFIX = "reversal:"
#: How long one process may hold the rebuild to itself; others read the ledger meanwhile.
REBUILD_LOCK_MS = 10_000
_REBUILD_BATCH = 1000


class OpenClaimMarks:
    """Per-consumer sets of the payment ids that may hold it open (see the module docstring)."""

    def __init__(self, redis: redis_lib.Redis, *, batcher: RedisBatcher | None = None) -> None:
        self._redis = redis
        # a web process sends the marks with other requests' Redis calls
        self._batcher = batcher

    @staticmethod
    def key(consumer: Consumer) -> str:
        return keys.open_claim_marks(*consumer)

    @staticmethod
    def complete_key() -> str:
        return keys.open_claim_marks_complete()

    @staticmethod
    def reversal_member(request_id: str) -> str:
        """A reversal's member in its consumers' sets (no payment id has this prefix)."""
        return f"{REVERSAL_PREFIX}{request_id}"

    def mark(self, payment_id: str, consumers: Iterable[Consumer]) -> None:
        """Before the payment's claims are inserted: one round trip. Raises redis.RedisError
        (then the payment must not be written)."""
        commands = [("SADD", self.key(consumer), payment_id) for consumer in consumers]
        if self._batcher is not None:
            self._batcher.commands(*commands)
        else:
            pipelined(self._redis, *commands)

    def unmark(self, payment_id: str, consumers: Iterable[Consumer]) -> None:
        """After the payment's claims were released (or never written); a failure leaves a
        harmless leftover, so it is not raised."""
        pipe = self._redis.pipeline(transaction=False)
        for consumer in consumers:
            pipe.srem(self.key(consumer), payment_id)
        try:
            pipe.execute()
        except redis_lib.RedisError:
            return

    def is_complete(self) -> bool:
        return bool(self._redis.exists(self.complete_key()))

    def rebuild_from(self, read_open_claims: ReadOpenClaims) -> bool:
        """Take the rebuild lock, read every open claim from the ledger, mark them and declare
        the marks complete. False (nothing done) when another process is rebuilding."""
        lock = keys.open_claim_marks_rebuild_lock()
        if not self._redis.set(lock, "1", nx=True, px=REBUILD_LOCK_MS):
            return False
        try:
            claims = read_open_claims()  # read after the lock: see the module docstring
            for start in range(0, len(claims), _REBUILD_BATCH):
                pipe = self._redis.pipeline(transaction=False)
                for tenant, service, consumer, payment_id in claims[start : start + _REBUILD_BATCH]:
                    pipe.sadd(self.key((tenant, service, consumer)), payment_id)
                pipe.execute()
            self._redis.set(self.complete_key(), "1")
        finally:
            self._redis.delete(lock)
        return True
