"""Receipts in the ledger and in Redis: the print count, DIGIT's facts cached, lookup limits.

ReceiptPrintStore     counts prints (migrations/versions/0005_receipt_prints.py)
ReceiptFactsCache     what DIGIT said about a receipt, for RECEIPT_CACHE_SECONDS
ReceiptLookupLimiter  a device's lookups of receipts it did not collect, per minute
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import redis as redis_lib

from integrator import jsonutil
from integrator.payments.ports import ReceiptFacts
from integrator.store import keys
from integrator.store.codec import bill_from_dict, bill_to_dict
from integrator.store.db import Database
from integrator.store.ratelimit import RateLimiter

#: One statement, so two concurrent prints can never both be the first: the upsert takes the
#: count row's lock, and the log row is written with the number it returned.
_COUNT_PRINT = """
WITH counted AS (
    INSERT INTO receipt_print_counts AS c (payment_id, prints, last_printed_at)
    VALUES (%(payment_id)s, 1, %(at)s)
    ON CONFLICT (payment_id) DO UPDATE
        SET prints = c.prints + 1, last_printed_at = excluded.last_printed_at
    RETURNING prints
)
INSERT INTO receipt_prints (payment_id, print_number, device_id, format, printed_at)
SELECT %(payment_id)s, prints, %(device_id)s, %(format)s, %(at)s FROM counted
RETURNING print_number
"""


class ReceiptPrintStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def count_print(self, payment_id: str, *, device_id: str, rendering: str, at: datetime) -> int:
        """Record one print of the payment's receipt; its number (1 for the first)."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        params = {"payment_id": payment_id, "device_id": device_id, "format": rendering, "at": at}
        with self._db.autocommit() as conn:
            row = conn.execute(_COUNT_PRINT, params).fetchone()
        assert row is not None
        return int(row[0])

    def prints(self, payment_id: str) -> int:
        """How many times the payment's receipt was printed."""
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT prints FROM receipt_print_counts WHERE payment_id = %s", (payment_id,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def log(self, payment_id: str) -> list[dict[str, Any]]:
        """Every print of the payment's receipt, first first."""
        with self._db.autocommit() as conn:
            rows = conn.execute(
                "SELECT print_number, device_id, format, printed_at FROM receipt_prints"
                " WHERE payment_id = %s ORDER BY print_number",
                (payment_id,),
            ).fetchall()
        return [
            {"print_number": r[0], "device_id": r[1], "format": r[2], "printed_at": r[3]}
            for r in rows
        ]


def _facts_to_dict(facts: ReceiptFacts) -> dict[str, Any]:
    return {
        "receipt_number": facts.receipt_number,
        "payment_status": facts.payment_status,
        "instrument_status": facts.instrument_status,
        "transaction_number": facts.transaction_number,
        "payer_name": facts.payer_name,
        "bill": None if facts.bill is None else bill_to_dict(facts.bill),
    }


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _facts_from_dict(data: Mapping[str, Any]) -> ReceiptFacts:
    bill = data.get("bill")
    return ReceiptFacts(
        receipt_number=str(data["receipt_number"]),
        payment_status=_opt(data.get("payment_status")),
        instrument_status=_opt(data.get("instrument_status")),
        transaction_number=_opt(data.get("transaction_number")),
        payer_name=_opt(data.get("payer_name")),
        bill=None if bill is None else bill_from_dict(bill),
    )


class ReceiptFactsCache:
    """DIGIT's facts about receipts, in Redis. A cache: an unreadable entry is a miss."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis

    def get(self, tenant_id: str, module: str, receipt_number: str) -> ReceiptFacts | None:
        raw = self._redis.get(keys.receipt_facts(tenant_id, module, receipt_number))
        if raw is None:
            return None
        try:
            return _facts_from_dict(jsonutil.loads(raw))
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, tenant_id: str, module: str, facts: ReceiptFacts, *, ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            return
        self._redis.set(
            keys.receipt_facts(tenant_id, module, facts.receipt_number),
            jsonutil.dumps(_facts_to_dict(facts)),
            px=ttl_seconds * 1000,
        )


class ReceiptLookupLimiter:
    """A sliding one-minute window per device, apart from its general request limit."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._limiter = RateLimiter(redis, key_of=keys.receipt_lookup_rate)

    def allow(self, device_id: str, limit_per_minute: int, now: datetime) -> int:
        decision = self._limiter.hit(device_id, limit_per_minute, now)
        return 0 if decision.allowed else decision.retry_after
