"""Per-device rate limit: a sliding one-minute window, checked and counted in one script.

Each allowed request adds one member to the device's ZSET (score = epoch ms); members older than
the window are dropped first. A refused request is not counted, so a device that backs off for
`retry_after` seconds gets through.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_text

WINDOW_MS = 60_000

#: The sliding-window check-and-count, shared by `RateLimiter.hit` and `DeviceStore.admit` (which
#: authenticates and counts in one round trip). Expects the Lua locals rate_key, now, window,
#: limit and member; leaves allowed (0/1), remaining and wait (ms).
SLIDING_WINDOW_LUA = """
redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', now - window)
local count = redis.call('ZCARD', rate_key)
local allowed, remaining, wait = 0, 0, 0
if count < limit then
  redis.call('ZADD', rate_key, now, member)
  redis.call('PEXPIRE', rate_key, window)
  allowed, remaining = 1, limit - count - 1
else
  local oldest = redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')
  wait = window
  if oldest[2] then wait = tonumber(oldest[2]) + window - now end
end
"""

_HIT = (
    """
local rate_key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local member = ARGV[4]
"""
    + SLIDING_WINDOW_LUA
    + """
return {allowed, tostring(remaining), tostring(wait)}
"""
)


@dataclass(frozen=True, kw_only=True)
class RateDecision:
    allowed: bool
    retry_after: int  # whole seconds to wait before retrying (0 when allowed)
    remaining: int = 0  # requests left in the current window after this one


class RateLimiter:
    """`key_of` names the window's ZSET: a device's requests by default."""

    def __init__(
        self, redis: redis_lib.Redis, *, key_of: Callable[[str], str] = keys.device_rate
    ) -> None:
        self._hit = redis.register_script(_HIT)
        self._key_of = key_of

    def hit(self, device_id: str, limit_per_minute: int, now: datetime) -> RateDecision:
        """Count one request of `device_id` at `now` if under `limit_per_minute`, atomically."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if limit_per_minute <= 0:
            return RateDecision(allowed=False, retry_after=60)
        now_ms = int(now.timestamp() * 1000)
        member = new_member(now_ms)
        reply = self._hit(
            keys=[self._key_of(device_id)],
            args=[now_ms, WINDOW_MS, limit_per_minute, member],
        )
        return decision(reply[0], reply[1], reply[2])


def new_member(now_ms: int) -> str:
    """A unique sorted-set member for one request at `now_ms`."""
    return f"{now_ms}-{secrets.token_hex(6)}"


def decision(allowed: object, remaining: object, wait_ms: object) -> RateDecision:
    """The RateDecision of SLIDING_WINDOW_LUA's allowed / remaining / wait."""
    ok = int(as_text(allowed)) == 1
    return RateDecision(
        allowed=ok,
        retry_after=0 if ok else max(1, math.ceil(int(as_text(wait_ms)) / 1000)),
        remaining=int(as_text(remaining)),
    )
