"""What serving bills to a device does in Redis, in one round trip.

Every bill served is kept as a snapshot (SnapshotStore: the fallback check while DIGIT is down),
and each bill's answer says whether we hold an unfinished payment for its consumer (PaymentStore's
consumer locks). Both are needed on every GET /v1/bills, the integrator's busiest request, so they
share one pipeline instead of costing two round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis as redis_lib

from integrator.digit.models import Bill
from integrator.store.payments import PaymentStore
from integrator.store.snapshots import SnapshotStore


class ServedBills:
    def __init__(
        self, redis: redis_lib.Redis, *, snapshots: SnapshotStore, payments: PaymentStore
    ) -> None:
        self._redis = redis
        self._snapshots = snapshots
        self._payments = payments

    def record(self, bills: Sequence[Bill], served_at: datetime) -> list[str | None]:
        """Snapshot each bill as served at `served_at`; for each, the id of our unfinished
        payment for its consumer, if any (None otherwise)."""
        if not bills:
            return []
        pipe = self._redis.pipeline(transaction=False)
        self._snapshots.queue_save(pipe, bills, served_at)
        read_pending = self._payments.queue_pending_for_consumers(
            pipe, [(b.tenant_id, b.business_service, b.consumer_code) for b in bills]
        )
        return read_pending(pipe.execute()[-1])
