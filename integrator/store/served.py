"""What serving bills to a device keeps in Redis and reads back from it, in one round trip: a
snapshot of every bill, and whether each bill's consumer may have an open payment of ours.

The snapshots (SnapshotStore's documents) are the fallback check while DIGIT is down. They are
written on every GET /v1/bills, the integrator's busiest request; under gevent a Redis round trip
costs far more web-process CPU than the commands in it, so they go in one script call: cheaper
than a pipeline's client-side bookkeeping. The same call reads the open-payment marks
(integrator.store.open_claims), so the ledger is asked only about consumers that have one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import redis as redis_lib

from integrator.digit.models import Bill
from integrator.store.open_claims import OpenClaimMarks, ReadOpenClaims
from integrator.store.snapshots import SnapshotStore

log = logging.getLogger(__name__)

# KEYS: d document keys, then one mark key per bill (its consumer's), then the completion key.
# ARGV: retention (ms), then the d documents. Returns, per bill, how many payments may hold its
# consumer open; or nil while the marks are not complete (then the ledger must be asked).
_RECORD = """
local d = #ARGV - 1
for i = 1, d do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
end
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return false
end
local marked = {}
for i = d + 1, #KEYS - 1 do
  marked[#marked + 1] = redis.call('SCARD', KEYS[i])
end
return marked
"""


class ServedBills:
    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        snapshots: SnapshotStore,
        marks: OpenClaimMarks,
        read_open_claims: ReadOpenClaims,
    ) -> None:
        self._snapshots = snapshots
        self._marks = marks
        self._read_open_claims = read_open_claims
        self._record = redis.register_script(_RECORD)

    def record(self, bills: Sequence[Bill], served_at: datetime) -> list[bool]:
        """Snapshot each bill as served at `served_at`; for each, whether its consumer may have
        an open payment of ours (False only when certainly not: then the ledger need not be
        asked)."""
        if not bills:
            return []
        documents = self._snapshots.documents(bills, served_at)
        marked = self._record(
            keys=[
                *(key for key, _ in documents),
                *(
                    self._marks.key((b.tenant_id, b.business_service, b.consumer_code))
                    for b in bills
                ),
                self._marks.complete_key(),
            ],
            args=[self._snapshots.retention_ms, *(doc for _, doc in documents)],
        )
        if marked is None:
            self._rebuild_marks()
            return [True] * len(bills)
        return [int(count) > 0 for count in marked]

    def _rebuild_marks(self) -> None:
        """The marks are not complete (first start, or Redis lost its data): rebuild them from
        the ledger, once across the processes; this answer asks the ledger meanwhile."""
        if self._marks.rebuild_from(self._read_open_claims):
            log.info("open-payment marks rebuilt from the ledger")
