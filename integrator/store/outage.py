"""The "DIGIT down since" flag the workers keep in Redis (set by `jobs/outage.py` when an
attempt finds DIGIT unreachable, cleared when it answers again), read by the ops dashboard."""

from __future__ import annotations

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_text


def digit_down_since(redis: redis_lib.Redis) -> str | None:
    """When a worker first found DIGIT unreachable (ISO 8601), or None while it answers."""
    value = redis.get(keys.digit_down_since())
    return None if value is None else as_text(value)
