"""Reconciliation flags in Redis: why a REGISTERED payment was flagged, and the flagged index.

Layout (see `store.keys`): hash `reconciliation:flag:{id}` {reason, digit_payment_id,
digit_status, flagged_at, checked_at, detail}; ZSET `payments:flagged` (score = flagged_at epoch
ms); hash `reconciliation:last-run` (the last run's summary). A flag is set once (`flag` answers
whether it is new) and cleared when DIGIT shows the payment live again or an operator clears it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis as redis_lib

from integrator.store import keys
from integrator.store.codec import as_text

_FLAG = """
-- KEYS: 1 flag hash, 2 flagged zset; ARGV: 1 id, 2 score, then field/value pairs
local new = redis.call('EXISTS', KEYS[1]) == 0
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if new then
  redis.call('HSET', KEYS[1], 'flagged_at', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return new and 1 or 0
"""


@dataclass(frozen=True, kw_only=True)
class Flag:
    """Why reconciliation flagged a payment."""

    payment_id: str
    reason: str  # MISSING, CANCELLED, DISHONOURED, NOT_LIVE
    digit_payment_id: str | None
    digit_status: str | None
    flagged_at: datetime
    checked_at: datetime
    detail: Mapping[str, Any]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: str) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(int(value) / 1000, UTC)


class ReconciliationStore:
    """Flags on payments, the flagged index and the last run's summary."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis
        self._flag = redis.register_script(_FLAG)

    def flag(
        self,
        payment_id: str,
        *,
        reason: str,
        digit_payment_id: str | None,
        digit_status: str | None,
        at: datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Flag (or refresh the flag of) a payment; True when it was not flagged before."""
        fields = {
            "reason": reason,
            "digit_payment_id": digit_payment_id or "",
            "digit_status": digit_status or "",
            "checked_at": str(_ms(at)),
            "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
        }
        args: list[str] = [payment_id, str(_ms(at))]
        for name, value in fields.items():
            args += [name, value]
        new = self._flag(
            keys=[keys.reconciliation_flag(payment_id), keys.payments_flagged()], args=args
        )
        return bool(int(new))

    def clear(self, payment_id: str) -> bool:
        """Remove a payment's flag; True when there was one."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.reconciliation_flag(payment_id))
        pipe.zrem(keys.payments_flagged(), payment_id)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def get(self, payment_id: str) -> Flag | None:
        raw = cast(dict[bytes, bytes], self._redis.hgetall(keys.reconciliation_flag(payment_id)))
        if not raw:
            return None
        data = {as_text(k): as_text(v) for k, v in raw.items()}
        return Flag(
            payment_id=payment_id,
            reason=data.get("reason", ""),
            digit_payment_id=data.get("digit_payment_id") or None,
            digit_status=data.get("digit_status") or None,
            flagged_at=_from_ms(data.get("flagged_at", "0")),
            checked_at=_from_ms(data.get("checked_at", "0")),
            detail=json.loads(data.get("detail") or "{}"),
        )

    def flagged_ids(self, *, offset: int = 0, limit: int = 100) -> list[str]:
        """Flagged payment ids, most recently flagged first (the ops console lists these)."""
        rows = self._redis.zrevrange(keys.payments_flagged(), offset, offset + limit - 1)
        return [as_text(r) for r in rows]

    def is_flagged(self, payment_id: str) -> bool:
        return self._redis.zscore(keys.payments_flagged(), payment_id) is not None

    def count(self) -> int:
        return int(self._redis.zcard(keys.payments_flagged()))

    def save_last_run(self, summary: Mapping[str, Any]) -> None:
        key = keys.reconciliation_last_run()
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={k: json.dumps(v, default=str) for k, v in summary.items()})
        pipe.execute()

    def last_run(self) -> dict[str, Any]:
        raw = cast(dict[bytes, bytes], self._redis.hgetall(keys.reconciliation_last_run()))
        return {as_text(k): json.loads(as_text(v)) for k, v in raw.items()}
