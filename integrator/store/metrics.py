"""`MetricHashes`: the Redis hashes that hold the integrator's counters and histograms.

One hash per metric family (`keys.metric_counter` / `keys.metric_histogram`); what goes in a field
is decided by `integrator.observability.recorder`. Increments of one call go in one pipelined round
trip (not a transaction: a counter may be one event behind another, never wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

import redis as redis_lib

from integrator.store import keys
from integrator.store.redis_batcher import RedisBatcher, pipelined

Op = Literal["incr", "incrfloat"]
Kind = Literal["counter", "histogram"]
#: (incr | incrfloat, family name, counter or histogram, field, amount)
Increment = tuple[Op, str, Kind, str, float]


class MetricHashes:
    def __init__(self, redis: redis_lib.Redis, *, batcher: RedisBatcher | None = None) -> None:
        self._redis = redis
        # a web process sends its increments with other requests' Redis calls
        self._batcher = batcher

    def increment(self, increments: Sequence[Increment]) -> None:
        """Apply every increment in one round trip; raises redis.RedisError when Redis is gone."""
        commands = [
            (
                ("HINCRBY", _key(name, kind), field, int(amount))
                if op == "incr"
                else ("HINCRBYFLOAT", _key(name, kind), field, amount)
            )
            for op, name, kind, field, amount in increments
        ]
        if self._batcher is not None:
            self._batcher.commands(*commands)
        else:
            pipelined(self._redis, *commands)

    def counter(self, name: str) -> dict[bytes, bytes]:
        return cast(dict[bytes, bytes], self._redis.hgetall(keys.metric_counter(name)))

    def histogram(self, name: str) -> dict[bytes, bytes]:
        return cast(dict[bytes, bytes], self._redis.hgetall(keys.metric_histogram(name)))


def _key(name: str, kind: Kind) -> str:
    return keys.metric_counter(name) if kind == "counter" else keys.metric_histogram(name)
