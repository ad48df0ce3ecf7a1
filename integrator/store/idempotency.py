"""Idempotency-Key records (IETF draft "The Idempotency-Key HTTP Header Field"), per device.

One Redis hash per (device, key), fields:
    fp          fingerprint of the validated request that first used the key
    pid         the payment created under it (set atomically with the payment by
                `PaymentStore.create`); from then on the record never expires
    token       claim token of the request now working on it (in flight)
    claimed_at  epoch ms of that claim

A claim without a payment has a short TTL (`claim_ttl_seconds`) so a crashed request cannot block
the key; an in-flight claim older than `in_flight_bound_seconds` is treated as abandoned and may be
taken over. Correctness never rests on the claim alone: `PaymentStore.create` re-checks the record
in the same script that writes the payment, so two identical requests make one payment even if both
got past `claim`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_opt_text, as_text


class ClaimOutcome(StrEnum):
    NEW = "NEW"  # ours: validate and create (or release on a validation failure)
    REPLAY = "REPLAY"  # same key, same request, payment exists: answer with that payment
    IN_FLIGHT = "IN_FLIGHT"  # same key, same request, first still running: 409, retry later
    MISMATCH = "MISMATCH"  # same key, different request: 422 IDEMPOTENCY_KEY_REUSED


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    outcome: ClaimOutcome
    payment_id: str | None = None  # REPLAY (and MISMATCH when the key already made a payment)
    token: str | None = None  # NEW: pass to `release`


_CLAIM = """
local rec = redis.call('HMGET', KEYS[1], 'fp', 'pid', 'claimed_at')
local now = tonumber(ARGV[3])
if rec[2] then
  if rec[1] == ARGV[1] then return {'REPLAY', rec[2]} end
  return {'MISMATCH', rec[2]}
end
if rec[1] then
  local stale = rec[3] and (now - tonumber(rec[3]) >= tonumber(ARGV[5]))
  if not stale then
    if rec[1] ~= ARGV[1] then return {'MISMATCH', ''} end
    return {'IN_FLIGHT', ''}
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', ARGV[2], 'claimed_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'NEW', ''}
"""

_RELEASE = """
local rec = redis.call('HMGET', KEYS[1], 'pid', 'token')
if rec[1] then return 0 end
if ARGV[1] ~= '' and rec[2] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

_MARK_ANSWERED = """
local rec = redis.call('HMGET', KEYS[1], 'fp', 'pid')
if rec[2] then
  if rec[2] == ARGV[2] and rec[1] == ARGV[1] then return 1 end
  return 0
end
if rec[1] and rec[1] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'pid', ARGV[2])
redis.call('HDEL', KEYS[1], 'token')
redis.call('PERSIST', KEYS[1])
return 1
"""


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(moment.timestamp() * 1000)


class IdempotencyStore:
    """Claims and records of devices' Idempotency-Keys."""

    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        claim_ttl_seconds: float = 120.0,
        in_flight_bound_seconds: float | None = None,
    ) -> None:
        self._redis = redis
        self._claim_ttl_ms = int(claim_ttl_seconds * 1000)
        bound = claim_ttl_seconds if in_flight_bound_seconds is None else in_flight_bound_seconds
        self._bound_ms = int(bound * 1000)
        if self._claim_ttl_ms <= 0 or self._bound_ms <= 0:
            raise ValueError("claim TTL and in-flight bound must be positive")
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._mark = redis.register_script(_MARK_ANSWERED)

    def claim(self, device_id: str, key: str, fingerprint: str, *, now: datetime) -> ClaimResult:
        """Start working on (device, key) for the request with `fingerprint`, atomically."""
        token = secrets.token_hex(16)
        reply = self._claim(
            keys=[keys.idempotency(device_id, key)],
            args=[fingerprint, token, _ms(now), self._claim_ttl_ms, self._bound_ms],
        )
        outcome = ClaimOutcome(as_text(reply[0]))
        payment_id = as_text(reply[1]) or None
        return ClaimResult(
            outcome=outcome,
            payment_id=payment_id,
            token=token if outcome is ClaimOutcome.NEW else None,
        )

    def release(self, device_id: str, key: str, token: str | None = None) -> bool:
        """Forget an in-flight claim (validation failed, nothing stored) so the key can be reused.

        With `token`, only the claim holding that token is released (a slow request cannot release
        the claim of the request that took over). A key that made a payment is never released.
        """
        return bool(self._release(keys=[keys.idempotency(device_id, key)], args=[token or ""]))

    def mark_answered(self, device_id: str, key: str, fingerprint: str, payment_id: str) -> bool:
        """Bind the key to `payment_id` for good (no TTL). False if it is bound to something else.

        `PaymentStore.create` does this in the same script that writes the payment; this is for
        callers that record an answer separately.
        """
        return bool(
            self._mark(keys=[keys.idempotency(device_id, key)], args=[fingerprint, payment_id])
        )

    def payment_id(self, device_id: str, key: str) -> str | None:
        """The payment created under (device, key), if any."""
        return as_opt_text(self._redis.hget(keys.idempotency(device_id, key), "pid"))
