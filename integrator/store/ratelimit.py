"""Per-device rate limit: a sliding one-minute window, checked and counted in one script.

Each allowed request adds one member to the device's ZSET (score = epoch ms); members older than
the window are dropped first. A refused request is not counted, so a device that backs off for
`retry_after` seconds gets through.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_text

WINDOW_MS = 60_000

_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, tostring(limit - count - 1), '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = window
if oldest[2] then wait = tonumber(oldest[2]) + window - now end
return {0, '0', tostring(wait)}
"""


@dataclass(frozen=True, kw_only=True)
class RateDecision:
    allowed: bool
    retry_after: int  # whole seconds to wait before retrying (0 when allowed)
    remaining: int = 0  # requests left in the current window after this one


class RateLimiter:
    def __init__(self, redis: redis_lib.Redis) -> None:
        self._hit = redis.register_script(_HIT)

    def hit(self, device_id: str, limit_per_minute: int, now: datetime) -> RateDecision:
        """Count one request of `device_id` at `now` if under `limit_per_minute`, atomically."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if limit_per_minute <= 0:
            return RateDecision(allowed=False, retry_after=60)
        now_ms = int(now.timestamp() * 1000)
        member = f"{now_ms}-{secrets.token_hex(6)}"
        reply = self._hit(
            keys=[keys.device_rate(device_id)],
            args=[now_ms, WINDOW_MS, limit_per_minute, member],
        )
        allowed = int(reply[0]) == 1
        wait_ms = int(as_text(reply[2]))
        return RateDecision(
            allowed=allowed,
            retry_after=0 if allowed else max(1, math.ceil(wait_ms / 1000)),
            remaining=int(as_text(reply[1])),
        )
