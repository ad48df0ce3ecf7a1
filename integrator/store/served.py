"""What serving bills to a device keeps in Redis: a snapshot of every bill, in one round trip.

The snapshots (SnapshotStore's documents) are the fallback check while DIGIT is down. They are
written on every GET /v1/bills, the integrator's busiest request; under gevent a Redis round trip
costs far more web-process CPU than the commands in it, so they go in one script call: cheaper
than a pipeline's client-side bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis as redis_lib

from integrator.digit.models import Bill
from integrator.store.snapshots import SnapshotStore

# KEYS: n snapshot keys. ARGV: retention (ms), then n snapshot docs.
_RECORD = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
end
return #KEYS
"""


class ServedBills:
    def __init__(self, redis: redis_lib.Redis, *, snapshots: SnapshotStore) -> None:
        self._snapshots = snapshots
        self._record = redis.register_script(_RECORD)

    def record(self, bills: Sequence[Bill], served_at: datetime) -> None:
        """Snapshot each bill as served at `served_at`."""
        if not bills:
            return
        documents = self._snapshots.documents(bills, served_at)
        self._record(
            keys=[key for key, _ in documents],
            args=[self._snapshots.retention_ms, *(doc for _, doc in documents)],
        )
