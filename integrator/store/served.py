"""What serving bills to a device keeps in Redis and reads back from it: a snapshot of every
bill, and whether each bill's consumer may have an open payment of ours.

The snapshots (SnapshotStore's documents) are the fallback check while DIGIT is down. They are
written on every GET /v1/bills, the integrator's busiest request; under gevent a Redis round trip
costs far more web-process CPU than the commands in it, so they are written behind the answer,
many answers' in one round trip (integrator.store.snapshot_writer). The open-payment marks
(integrator.store.open_claims), which let the ledger be asked only about consumers that have
one, are read with the request's admission when the device asked for one consumer's bills
(`known`), else in one script call here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import redis as redis_lib

from integrator.digit.models import Bill
from integrator.payments.models import ConsumerKey
from integrator.payments.ports import OpenMarks
from integrator.store.open_claims import OpenClaimMarks, ReadOpenClaims
from integrator.store.snapshots import SnapshotStore

log = logging.getLogger(__name__)

# KEYS: one mark key per bill (its consumer's), then the completion key. Returns, per bill, how
# many payments may hold its consumer open; or nil while the marks are not complete (then the
# ledger must be asked).
_READ_MARKS = """
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return false
end
local marked = {}
for i = 1, #KEYS - 1 do
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
        self._read_marks = redis.register_script(_READ_MARKS)

    def record(
        self, bills: Sequence[Bill], served_at: datetime, known: OpenMarks | None = None
    ) -> list[bool]:
        """Snapshot each bill as served at `served_at` (written behind the answer); for each,
        whether its consumer may have an open payment of ours (False only when certainly not:
        then the ledger need not be asked). With `known` marks covering every bill's consumer,
        no round trip at all."""
        if not bills:
            return []
        self._snapshots.save_behind(bills, served_at)
        consumers = [ConsumerKey(b.tenant_id, b.business_service, b.consumer_code) for b in bills]
        if known is not None and all(c == known.consumer for c in consumers):
            if known.count is not None:
                return [known.count > 0] * len(bills)
            marked = None
        else:
            marked = self._read_marks(
                keys=[*(self._marks.key(c) for c in consumers), self._marks.complete_key()]
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
