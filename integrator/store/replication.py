"""Acknowledge a payment only once a Redis replica holds it (REDIS_WAIT_REPLICAS).

Redis replicates asynchronously: if the primary dies after answering a write but before a replica
received it, a Sentinel (or managed) failover promotes a replica that never saw the payment, and
the device was already told "accepted". `WAIT n timeout` blocks until n replicas acknowledged the
writes made so far *on the connection that sends it*. Call the helper right after
`PaymentStore.create(...)` returned CREATED and before answering the device:

    from integrator.store.replication import wait_for_replicas
    wait_for_replicas(redis, settings.redis_wait_replicas, settings.redis_wait_timeout_ms)

redis-py returns a connection to its pool after each command, so the connection that wrote the
payment is not necessarily the one that would send WAIT. The helper therefore writes a small
marker and sends WAIT in one pipeline (one connection): the replication stream is ordered, so a
replica that acknowledged the marker also holds every write the primary applied before it,
the payment included, whichever connection wrote it. With n = 0 nothing is sent.
"""

from __future__ import annotations

import redis as redis_lib

#: Written before WAIT so that WAIT covers everything the primary applied before it (see above).
#: (Lives here, not in store.keys, because only this module writes it; it expires by itself.)
WAIT_MARKER_KEY = "integrator:replication:wait-marker"
WAIT_MARKER_TTL_MS = 60_000


class ReplicationLagError(RuntimeError):
    """Fewer replicas than required acknowledged in time: a failover could lose the write.

    The payment *is* stored on the primary. The caller answers 503 with Retry-After; the device
    retries with the same Idempotency-Key and gets a replay (never a duplicate), at which point
    the helper is called again.
    """

    def __init__(self, *, wanted: int, acknowledged: int, timeout_ms: int) -> None:
        self.wanted = wanted
        self.acknowledged = acknowledged
        self.timeout_ms = timeout_ms
        super().__init__(
            f"only {acknowledged} of {wanted} Redis replica(s) acknowledged within {timeout_ms} ms"
        )


def wait_for_replicas(redis: redis_lib.Redis, n: int, timeout_ms: int) -> int:
    """Block until `n` replicas hold every write the primary has applied so far.

    Returns how many replicas acknowledged (0 when `n` is 0: skipped). Raises
    ReplicationLagError when fewer than `n` did within `timeout_ms`.
    """
    if n <= 0:
        return 0
    pipe = redis.pipeline(transaction=False)
    pipe.set(WAIT_MARKER_KEY, b"1", px=WAIT_MARKER_TTL_MS)
    pipe.wait(n, timeout_ms)
    acknowledged = int(pipe.execute()[-1])
    if acknowledged < n:
        raise ReplicationLagError(wanted=n, acknowledged=acknowledged, timeout_ms=timeout_ms)
    return acknowledged
