"""Payments in Redis: atomic create (payment + idempotency record + consumer locks + indexes) and
guarded saves (fence, version, transition, create-sent rules), each one Lua script.

    PaymentStoreError
    ├── PaymentNotFound
    ├── StaleFence                  the attempt's lease expired or was taken over: write nothing
    ├── ConcurrentModification      the payment changed since it was read: reload and decide again
    ├── TransitionRefused           stored status -> new status is not in states.ALLOWED
    └── IntegrityRefused            create_sent cleared, targeted billIds shrank, or the
                                    payment's consumers (its locks) changed

Layout (see `store.keys`): hash `payment:{id}` {doc, status, version, create_sent}; set
`payment:{id}:targeted-bills`; ZSETs `payments:by-created` and `payments:by-status:{status}`
(score = created_at epoch ms); sets `payments:by-{bill,consumer,receipt,mobile4,idempotency-key}:*`;
string `consumer-lock:{tenant}:{service}:{consumer}` = id of the consumer's unfinished payment.
Index sets only grow (a payment once found under a bill id stays findable there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import redis as redis_lib

from integrator.payments import states
from integrator.payments.models import ConsumerKey, Payment, PaymentStatus
from integrator.store import keys
from integrator.store.codec import as_opt_text, as_text, dump_payment, load_payment


class PaymentStoreError(Exception):
    """Base of the payment store's refusals."""


class PaymentNotFound(PaymentStoreError):
    pass


class StaleFence(PaymentStoreError):
    """The write's fencing token no longer holds the payment's lease."""


class ConcurrentModification(PaymentStoreError):
    """The stored version differs from the one the caller read."""


class TransitionRefused(PaymentStoreError):
    """The stored status cannot move to the new one."""


class IntegrityRefused(PaymentStoreError):
    """A save would forget that a create was sent, or drop a targeted billId."""


class CreateOutcome(StrEnum):
    CREATED = "CREATED"
    REPLAY = "REPLAY"  # the idempotency key already made a payment for the same request
    MISMATCH = "MISMATCH"  # the idempotency key was used for a different request
    CONFLICT = "CONFLICT"  # a consumer already has an unfinished payment (409 PAYMENT_IN_PROGRESS)


@dataclass(frozen=True, kw_only=True)
class CreateResult:
    outcome: CreateOutcome
    payment_id: str | None  # CREATED: ours; REPLAY: the earlier one; CONFLICT: the holder
    conflict: ConsumerKey | None = None  # CONFLICT: the consumer that is locked


@dataclass(frozen=True, kw_only=True)
class PaymentPage:
    payments: tuple[Payment, ...]
    next_cursor: str | None  # pass back to `list_recent` for the next (older) page


ScoredRows = list[tuple[Any, float]]

_STATUS_ORDER: tuple[PaymentStatus, ...] = tuple(PaymentStatus)

_CREATE = """
-- KEYS: 1 payment, 2 idempotency, 3 by-created, 4 by-status, 5 targeted,
--       6..5+nlocks consumer locks, rest index sets
-- ARGV: 1 id, 2 doc, 3 fp, 4 score, 5 status, 6 nlocks, 7 version, 8 create_sent,
--       9 ntargeted, 10.. targeted ids; the consumer lock keys are also kept, joined, in the
--       payment hash's `locks` field so a save can prove it releases the same locks
local id = ARGV[1]
local rec = redis.call('HMGET', KEYS[2], 'fp', 'pid')
if rec[2] then
  if rec[1] == ARGV[3] then return {'REPLAY', rec[2], ''} end
  return {'MISMATCH', rec[2], ''}
end
if rec[1] and rec[1] ~= ARGV[3] then return {'MISMATCH', '', ''} end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('DUPLICATE_PAYMENT_ID') end
local nlocks = tonumber(ARGV[6])
for i = 1, nlocks do
  local holder = redis.call('GET', KEYS[5 + i])
  if holder and holder ~= id then return {'CONFLICT', holder, tostring(i)} end
end
local locks = {}
for i = 1, nlocks do locks[i] = KEYS[5 + i] end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', ARGV[5], 'version', ARGV[7],
           'create_sent', ARGV[8], 'locks', table.concat(locks, '\\n'))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'fp', ARGV[3], 'pid', id)
for i = 1, nlocks do redis.call('SET', KEYS[5 + i], id) end
redis.call('ZADD', KEYS[3], ARGV[4], id)
redis.call('ZADD', KEYS[4], ARGV[4], id)
for i = 6 + nlocks, #KEYS do redis.call('SADD', KEYS[i], id) end
local nt = tonumber(ARGV[9])
for i = 1, nt do redis.call('SADD', KEYS[5], ARGV[9 + i]) end
return {'CREATED', id, ''}
"""

_SAVE = """
-- KEYS: 1 payment, 2 lease, 3 targeted, 4 new status zset, 5..8 every status zset,
--       9..8+nlocks consumer locks, rest index sets
-- ARGV: 1 id, 2 doc, 3 new status, 4 expected version, 5 new version, 6 fence ('' = none),
--       7 score, 8 final ('1'/'0'), 9 allowed sources (comma list), 10 create_sent,
--       11 nlocks, 12 ntargeted, 13.. targeted ids
local id = ARGV[1]
local cur = redis.call('HMGET', KEYS[1], 'status', 'version', 'create_sent', 'locks')
if not cur[1] then return {'NOT_FOUND', ''} end
local nlocks = tonumber(ARGV[11])
local locks = {}
for i = 1, nlocks do locks[i] = KEYS[8 + i] end
if (cur[4] or '') ~= table.concat(locks, '\\n') then return {'CONSUMERS_CHANGED', ''} end
if ARGV[6] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder ~= ARGV[6] then return {'STALE_FENCE', holder or ''} end
end
if cur[2] ~= ARGV[4] then return {'VERSION', cur[2]} end
if cur[1] ~= ARGV[3] then
  local ok = false
  for s in string.gmatch(ARGV[9], '[^,]+') do
    if s == cur[1] then ok = true end
  end
  if not ok then return {'TRANSITION', cur[1]} end
end
if cur[3] == '1' and ARGV[10] ~= '1' then return {'CREATE_SENT_CLEARED', ''} end
local nt = tonumber(ARGV[12])
local present = 0
for i = 1, nt do present = present + redis.call('SISMEMBER', KEYS[3], ARGV[12 + i]) end
if present < redis.call('SCARD', KEYS[3]) then return {'TARGETS_SHRANK', ''} end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', ARGV[3], 'version', ARGV[5],
           'create_sent', ARGV[10])
for i = 1, nt do redis.call('SADD', KEYS[3], ARGV[12 + i]) end
for i = 5, 8 do redis.call('ZREM', KEYS[i], id) end
redis.call('ZADD', KEYS[4], ARGV[7], id)
if ARGV[8] == '1' then
  for i = 1, nlocks do
    if redis.call('GET', KEYS[8 + i]) == id then redis.call('DEL', KEYS[8 + i]) end
  end
end
for i = 9 + nlocks, #KEYS do redis.call('SADD', KEYS[i], id) end
return {'OK', ARGV[5]}
"""


def created_score(moment: datetime) -> int:
    """The ZSET score of a payment: created_at in epoch milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return int(moment.timestamp() * 1000)


def _index_keys(payment: Payment) -> list[str]:
    bill_ids: set[str] = set(payment.targeted_bill_ids)
    consumers: set[str] = set()
    receipts: set[str] = set()
    for bill in payment.bills:
        bill_ids.add(bill.bill_id)
        if bill.retargeted_from:
            bill_ids.add(bill.retargeted_from)
        consumers.add(bill.consumer_code)
        if bill.receipt_number:
            receipts.add(bill.receipt_number)
    found = [keys.payments_by_bill(b) for b in sorted(bill_ids)]
    found += [keys.payments_by_consumer(c) for c in sorted(consumers)]
    found += [keys.payments_by_receipt(r) for r in sorted(receipts)]
    if payment.mobile_last4:
        found.append(keys.payments_by_mobile_last4(payment.mobile_last4))
    found.append(keys.payments_by_idempotency_key(payment.idempotency_key))
    return found


def _consumers(payment: Payment) -> list[ConsumerKey]:
    # sorted, so the lock list recorded at create compares equal whatever the bill order
    return sorted(payment.consumer_keys)


def _lock_keys(payment: Payment) -> list[str]:
    return [keys.consumer_lock(*c) for c in _consumers(payment)]


class PaymentStore:
    """Payments, their consumer locks and their search indexes."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._save = redis.register_script(_SAVE)

    # --- writes ---

    def create(self, payment: Payment) -> CreateResult:
        """Store a new PENDING payment with its idempotency record, consumer locks and indexes,
        all in one script. Nothing is written unless the outcome is CREATED.

        REPLAY: the device's key already made a payment for the same fingerprint (its id).
        MISMATCH: the key was used with a different fingerprint.
        CONFLICT: a consumer of this payment is locked by another unfinished payment (its id).
        """
        if payment.status is not PaymentStatus.PENDING:
            raise ValueError("a new payment must be PENDING")
        if not payment.bills:
            raise ValueError("a payment needs at least one bill")
        locks = _lock_keys(payment)
        targeted = sorted(payment.targeted_bill_ids)
        reply = self._create(
            keys=[
                keys.payment(payment.id),
                keys.idempotency(payment.device_id, payment.idempotency_key),
                keys.payments_by_created(),
                keys.payments_by_status(payment.status.value),
                keys.payment_targeted_bills(payment.id),
                *locks,
                *_index_keys(payment),
            ],
            args=[
                payment.id,
                dump_payment(payment),
                payment.fingerprint,
                created_score(payment.created_at),
                payment.status.value,
                len(locks),
                payment.version,
                "1" if payment.create_sent else "0",
                len(targeted),
                *targeted,
            ],
        )
        outcome = CreateOutcome(as_text(reply[0]))
        other = as_text(reply[1]) or None
        conflict = None
        if outcome is CreateOutcome.CONFLICT:
            conflict = _consumers(payment)[int(as_text(reply[2])) - 1]
        return CreateResult(outcome=outcome, payment_id=other, conflict=conflict)

    def save(self, payment: Payment, *, fence: int | None) -> Payment:
        """Write `payment` over the stored copy it was read from; returns it with version + 1.

        Refused (nothing written) with:
          StaleFence              `fence` given and the lease is gone or holds another token;
          ConcurrentModification  the stored version is not `payment.version`;
          TransitionRefused       the stored status cannot become `payment.status`;
          IntegrityRefused        create_sent would be cleared, a targeted billId dropped, or
                                  the consumers (hence the consumer locks) changed;
          PaymentNotFound.
        The status ZSETs move with the status; on a final status the consumer locks this payment
        holds are released. Use `fence=None` only outside registration attempts (operators).
        """
        stored = replace(payment, version=payment.version + 1)
        locks = _lock_keys(payment)
        targeted = sorted(payment.targeted_bill_ids)
        sources = states.allowed_sources(payment.status)
        reply = self._save(
            keys=[
                keys.payment(payment.id),
                keys.lease(payment.id),
                keys.payment_targeted_bills(payment.id),
                keys.payments_by_status(payment.status.value),
                *(keys.payments_by_status(s.value) for s in _STATUS_ORDER),
                *locks,
                *_index_keys(payment),
            ],
            args=[
                payment.id,
                dump_payment(stored),
                payment.status.value,
                payment.version,
                stored.version,
                "" if fence is None else str(fence),
                created_score(payment.created_at),
                "1" if states.is_final(payment.status) else "0",
                ",".join(sorted(s.value for s in sources)),
                "1" if payment.create_sent else "0",
                len(locks),
                len(targeted),
                *targeted,
            ],
        )
        result, detail = as_text(reply[0]), as_text(reply[1])
        if result == "OK":
            return stored
        if result == "NOT_FOUND":
            raise PaymentNotFound(payment.id)
        if result == "STALE_FENCE":
            raise StaleFence(
                f"payment {payment.id}: fence {fence} is not current ({detail or 'no lease'})"
            )
        if result == "VERSION":
            raise ConcurrentModification(
                f"payment {payment.id}: stored version {detail}, saving over {payment.version}"
            )
        if result == "TRANSITION":
            raise TransitionRefused(f"payment {payment.id}: {detail} -> {payment.status}")
        raise IntegrityRefused(f"payment {payment.id}: {result}")

    # --- reads ---

    def get(self, payment_id: str) -> Payment | None:
        doc = self._redis.hget(keys.payment(payment_id), "doc")
        return None if doc is None else load_payment(doc)

    def get_many(self, payment_ids: Sequence[str]) -> list[Payment]:
        """The payments that exist among `payment_ids`, in the given order."""
        if not payment_ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for pid in payment_ids:
            pipe.hget(keys.payment(pid), "doc")
        return [load_payment(doc) for doc in pipe.execute() if doc is not None]

    def get_by_idempotency(self, device_id: str, key: str) -> Payment | None:
        pid = as_opt_text(self._redis.hget(keys.idempotency(device_id, key), "pid"))
        return None if pid is None else self.get(pid)

    def pending_for_consumer(
        self, tenant_id: str, business_service: str, consumer_code: str
    ) -> str | None:
        """The id of the consumer's unfinished (PENDING or NEEDS_ATTENTION) payment, if any."""
        return as_opt_text(
            self._redis.get(keys.consumer_lock(tenant_id, business_service, consumer_code))
        )

    def pending_for_consumers(self, consumers: Sequence[tuple[str, str, str]]) -> list[str | None]:
        """`pending_for_consumer` for many (tenant, service, consumer) at once: one MGET."""
        if not consumers:
            return []
        found = self._redis.mget([keys.consumer_lock(*consumer) for consumer in consumers])
        return [as_opt_text(value) for value in found]

    def ids_by_status(
        self, status: PaymentStatus, *, offset: int = 0, limit: int = 100
    ) -> list[str]:
        """Ids of payments now in `status`, newest first."""
        ids = self._redis.zrevrange(
            keys.payments_by_status(status.value), offset, offset + limit - 1
        )
        return [as_text(i) for i in ids]

    def count_by_status(self) -> dict[PaymentStatus, int]:
        pipe = self._redis.pipeline(transaction=False)
        for status in _STATUS_ORDER:
            pipe.zcard(keys.payments_by_status(status.value))
        return {s: int(n) for s, n in zip(_STATUS_ORDER, pipe.execute(), strict=True)}

    def list_recent(self, cursor: str | None = None, limit: int = 50) -> PaymentPage:
        """Payments newest first, `limit` per page; `cursor` is the previous page's `next_cursor`.

        The cursor is `<score>:<id>` of the last payment shown, so payments created meanwhile do
        not shift the pages.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        zkey = keys.payments_by_created()
        if cursor is None:
            rows = cast(ScoredRows, self._redis.zrevrange(zkey, 0, limit, withscores=True))
            pairs = [(as_text(m), int(s)) for m, s in rows]
        else:
            score_text, _, last_id = cursor.partition(":")
            score = int(score_text)
            ties = int(self._redis.zcount(zkey, score, score))
            rows = cast(
                ScoredRows,
                self._redis.zrevrangebyscore(
                    zkey, score, "-inf", start=0, num=limit + ties + 1, withscores=True
                ),
            )
            # Members with equal scores come in descending id order: skip up to the cursor.
            pairs = [
                (as_text(m), int(s))
                for m, s in rows
                if not (int(s) == score and as_text(m) >= last_id)
            ]
        page, more = pairs[:limit], len(pairs) > limit
        next_cursor = f"{page[-1][1]}:{page[-1][0]}" if page and more else None
        return PaymentPage(
            payments=tuple(self.get_many([pid for pid, _ in page])), next_cursor=next_cursor
        )

    def ids_created_between(
        self, start: datetime, end: datetime, *, offset: int = 0, limit: int = 100
    ) -> list[str]:
        """Ids created in [start, end), newest first."""
        rows = self._redis.zrevrangebyscore(
            keys.payments_by_created(),
            f"({created_score(end)}",
            created_score(start),
            start=offset,
            num=limit,
        )
        return [as_text(r) for r in rows]

    def _newest_first(self, members: Iterable[Any]) -> list[str]:
        ids = sorted(as_text(m) for m in members)
        if not ids:
            return []
        scores = self._redis.zmscore(keys.payments_by_created(), ids)
        scored = [(s, i) for i, s in zip(ids, scores, strict=True) if s is not None]
        return [i for _, i in sorted(scored, reverse=True)]

    def ids_for_bill(self, bill_id: str) -> list[str]:
        return self._newest_first(self._redis.smembers(keys.payments_by_bill(bill_id)))

    def ids_for_consumer(self, consumer_code: str) -> list[str]:
        return self._newest_first(self._redis.smembers(keys.payments_by_consumer(consumer_code)))

    def ids_for_receipt(self, receipt_number: str) -> list[str]:
        return self._newest_first(self._redis.smembers(keys.payments_by_receipt(receipt_number)))

    def ids_for_mobile_last4(self, last4: str) -> list[str]:
        return self._newest_first(self._redis.smembers(keys.payments_by_mobile_last4(last4)))

    def ids_for_idempotency_key(self, key: str) -> list[str]:
        return self._newest_first(self._redis.smembers(keys.payments_by_idempotency_key(key)))
