"""Registration leases with fencing tokens: at most one registration attempt per payment at a time.

An attempt acquires the payment's lease (`SET NX PX`) and gets a fencing token from a per-payment
counter (`INCR`), so tokens only grow. `PaymentStore.save(payment, fence=token)` refuses the write
unless the lease still exists and holds that token: an attempt whose lease expired (it was paused,
or DIGIT was slow) can no longer write, even if no other attempt has started yet.
"""

from __future__ import annotations

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_opt_text

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def _ttl_ms(ttl_seconds: float) -> int:
    ms = int(ttl_seconds * 1000)
    if ms <= 0:
        raise ValueError("a lease needs a positive TTL")
    return ms


class LeaseStore:
    """Leases of payments' registration attempts."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    def acquire(self, payment_id: str, *, ttl_seconds: float) -> int | None:
        """A new fencing token if nobody holds the payment's lease, else None."""
        token = self._acquire(
            keys=[keys.lease(payment_id), keys.lease_fence(payment_id)], args=[_ttl_ms(ttl_seconds)]
        )
        return None if token is None else int(token)

    def release(self, payment_id: str, token: int) -> bool:
        """Give the lease back, only if `token` still holds it (compare-and-delete)."""
        return bool(self._release(keys=[keys.lease(payment_id)], args=[str(token)]))

    def renew(self, payment_id: str, token: int, *, ttl_seconds: float) -> bool:
        """Extend the lease to `ttl_seconds` from now, only if `token` still holds it."""
        return bool(
            self._renew(keys=[keys.lease(payment_id)], args=[str(token), _ttl_ms(ttl_seconds)])
        )

    def current(self, payment_id: str) -> int | None:
        """The token holding the lease now, or None when nobody holds it."""
        value = as_opt_text(self._redis.get(keys.lease(payment_id)))
        return None if value is None else int(value)
