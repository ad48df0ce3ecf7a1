"""Idempotency-Keys (IETF draft "The Idempotency-Key HTTP Header Field"), per device.

The record is the ledger's: the transaction that accepts a payment writes the payment with its
(device, key) under UNIQUE (device, key), and the `idempotency_keys` row binding the key to the
payment and the request's fingerprint (`PaymentStore.create`, `OfflineStore`). From then on a
request with that key replays the payment (same fingerprint) or is refused (another one).

A claim before the payment exists is only an in-flight marker in Redis ("a request with this key
is being processed right now": token, claimed-at, fingerprint), so a duplicate sent meanwhile
answers 409 instead of running the checks a second time. Writing it costs no durable commit in the
ledger; a new key's claim is one Redis round trip and no ledger read. The marker stays after the
payment is made, so a repeat within `in_flight_bound_seconds` finds it and reads the ledger (a
replay, or still in flight). A repeat after that takes a fresh marker like a new key: the
acceptance's UNIQUE (device, key) then answers REPLAY or MISMATCH, and a check that refuses it
first (the bill is paid by now: by that very payment) asks `bound` before answering
(PaymentService.accept_payment). A marker older than `in_flight_bound_seconds` counts as
abandoned (a crashed request) and may be taken over; Redis also expires it then.

Correctness never rests on the marker: if Redis loses it (a restart, a failover, eviction), two
identical requests may both get past `claim`, and the ledger's UNIQUE (device, key) on payments
still lets exactly one payment in (the other's create answers REPLAY).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import redis as redis_lib

from integrator.payments.ports import ClaimOutcome, ClaimResult
from integrator.store import keys
from integrator.store.codec import as_text
from integrator.store.db import Database
from integrator.store.redis_batcher import RedisBatcher

__all__ = ["ClaimOutcome", "ClaimResult", "IdempotencyStore"]

#: Take the marker if it is free or older than the bound; else return the holder's marker.
#: KEYS[1] marker; ARGV: token, now (ms), bound (ms), fingerprint, expiry (ms).
_CLAIM_LUA = """
local held = redis.call('GET', KEYS[1])
if held then
  local claimed_at = tonumber(string.match(held, '^[^|]*|([^|]*)|'))
  if claimed_at and claimed_at > tonumber(ARGV[2]) - tonumber(ARGV[3]) then
    return held
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[4], 'PX', ARGV[5])
return false
"""

#: Delete the marker if it holds ARGV[1] (any marker when ARGV[1] is empty); 1 when deleted.
_RELEASE_LUA = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
if ARGV[1] == '' or string.sub(held, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment


class IdempotencyStore:
    """Claims (in-flight markers, Redis) and records (the ledger) of devices' Idempotency-Keys."""

    def __init__(
        self,
        db: Database,
        redis: redis_lib.Redis,
        *,
        in_flight_bound_seconds: float = 60.0,
        batcher: RedisBatcher | None = None,
    ) -> None:
        if in_flight_bound_seconds <= 0:
            raise ValueError("the in-flight bound must be positive")
        self._db = db
        self._bound = timedelta(seconds=in_flight_bound_seconds)
        self._bound_ms = max(1, int(in_flight_bound_seconds * 1000))
        self._claim = redis.register_script(_CLAIM_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        # a web process sends claims with other requests' script calls (integrator.store.
        # redis_batcher); a job or a CLI command alone
        self._batcher = batcher

    def claim(self, device_id: str, key: str, fingerprint: str, *, now: datetime) -> ClaimResult:
        """Start working on (device, key) for the request with `fingerprint`, atomically."""
        now = _aware(now)
        token = secrets.token_hex(16)
        claim_keys = [keys.idempotency_claim(device_id, key)]
        now_ms = int(now.timestamp() * 1000)
        claim_args: list[str | int] = [token, now_ms, self._bound_ms, fingerprint, self._bound_ms]
        if self._batcher is None:
            held = self._claim(keys=claim_keys, args=claim_args)
        else:
            held = self._batcher.script(self._claim, keys=claim_keys, args=claim_args)
        if held is None:
            return ClaimResult(outcome=ClaimOutcome.NEW, token=token)
        earlier = self.bound(device_id, key, fingerprint)
        if earlier is not None:
            return earlier
        held_fingerprint = as_text(held).split("|", 2)[2]
        if held_fingerprint != fingerprint:
            return ClaimResult(outcome=ClaimOutcome.MISMATCH)
        return ClaimResult(outcome=ClaimOutcome.IN_FLIGHT)

    def release(self, device_id: str, key: str, token: str | None = None) -> bool:
        """Forget an in-flight claim (validation failed, nothing stored) so the key can be reused.

        With `token`, only the claim holding that token is released (a slow request cannot release
        the claim of the request that took over). A key that made a payment stays bound whatever
        happens to its marker: the record is the ledger's.
        """
        deleted = self._release(keys=[keys.idempotency_claim(device_id, key)], args=[token or ""])
        return int(deleted) == 1

    def bound(self, device_id: str, key: str, fingerprint: str) -> ClaimResult | None:
        """REPLAY (same fingerprint) or MISMATCH when (device, key) already made a payment."""
        record = self._record(device_id, key)
        if record is None:
            return None
        stored_fingerprint, payment_id = record
        same = stored_fingerprint == fingerprint
        outcome = ClaimOutcome.REPLAY if same else ClaimOutcome.MISMATCH
        return ClaimResult(outcome=outcome, payment_id=payment_id)

    def payment_id(self, device_id: str, key: str) -> str | None:
        """The payment created under (device, key), if any."""
        bound = self._record(device_id, key)
        return None if bound is None else bound[1]

    def _record(self, device_id: str, key: str) -> tuple[str, str] | None:
        """(fingerprint, payment id) of the ledger's record of (device, key), if it is bound."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT fingerprint, payment_id FROM idempotency_keys"
                " WHERE device_id = %s AND key = %s AND payment_id IS NOT NULL",
                (device_id, key),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))
