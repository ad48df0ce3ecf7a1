"""What serving bills to a device does in Redis: one script, one round trip.

Every bill served is kept as a snapshot (SnapshotStore's documents: the fallback check while DIGIT
is down), and each bill's answer says whether we hold an unfinished payment for its consumer
(PaymentStore's consumer locks). Both are needed on every GET /v1/bills, the integrator's busiest
request. Under gevent a Redis round trip costs far more web-process CPU than the commands in it,
so they go in one script call: cheaper than two round trips, and cheaper than a pipeline's
client-side bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis as redis_lib

from integrator.digit.models import Bill
from integrator.store import keys
from integrator.store.codec import as_opt_text
from integrator.store.snapshots import SnapshotStore

# KEYS: n snapshot keys, then n consumer-lock keys. ARGV: retention (ms), then n snapshot docs.
_RECORD = """
local n = #ARGV - 1
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
end
local locks = {}
for i = n + 1, #KEYS do locks[#locks + 1] = KEYS[i] end
return redis.call('MGET', unpack(locks))
"""


class ServedBills:
    def __init__(self, redis: redis_lib.Redis, *, snapshots: SnapshotStore) -> None:
        self._snapshots = snapshots
        self._record = redis.register_script(_RECORD)

    def record(self, bills: Sequence[Bill], served_at: datetime) -> list[str | None]:
        """Snapshot each bill as served at `served_at`; for each, the id of our unfinished
        payment for its consumer, if any (None otherwise)."""
        if not bills:
            return []
        documents = self._snapshots.documents(bills, served_at)
        locks = [
            keys.consumer_lock(b.tenant_id, b.business_service, b.consumer_code) for b in bills
        ]
        found = self._record(
            keys=[key for key, _ in documents] + locks,
            args=[self._snapshots.retention_ms, *(doc for _, doc in documents)],
        )
        return [as_opt_text(value) for value in found]
