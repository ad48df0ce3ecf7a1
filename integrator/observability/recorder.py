"""`RedisMetrics`: counters and histograms kept in Redis, so they are exact across processes.

Each family is one Redis hash (`store.metrics.MetricHashes`); a field is the JSON
list of the label values (plus, for histograms, the bucket's upper bound or `+sum`). One event is
one pipelined round trip. Recording never raises: a lost increment is logged, the payment goes on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis as redis_lib

from integrator.observability import catalog
from integrator.observability.catalog import Family
from integrator.observability.events import Observer
from integrator.store.metrics import Increment, Kind, MetricHashes, Op
from integrator.store.redis_batcher import RedisBatcher

if TYPE_CHECKING:
    from integrator.payments.models import Payment

log = logging.getLogger("integrator.metrics")

SUM_FIELD = "+sum"
INF = "+Inf"


def field_name(label_values: Sequence[str], suffix: str | None = None) -> str:
    parts = [*label_values, suffix] if suffix is not None else list(label_values)
    return json.dumps(parts, separators=(",", ":"))


def bucket_label(bound: float) -> str:
    """Prometheus' spelling of a bucket bound (`1.0`, `0.25`, `+Inf`)."""
    return INF if math.isinf(bound) else repr(float(bound))


def bucket_for(family: Family, value: float) -> str:
    """The (non-cumulative) bucket an observation falls in."""
    for bound in family.buckets:
        if value <= bound:
            return bucket_label(bound)
    return INF


@dataclass(frozen=True)
class HistogramData:
    buckets: list[tuple[str, float]]  # cumulative, ending with +Inf
    count: float
    total: float


#: DIGIT call metrics (one event per DIGIT call, the hot path) are summed in the process and
#: written at most this often; payment events are written at once.
FLUSH_SECONDS = 1.0

_Event = tuple[Family, Mapping[str, str], float | None, int]


class RedisMetrics(Observer):
    """The `Observer` that counts every event in Redis."""

    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batcher: RedisBatcher | None = None,
    ) -> None:
        self._hashes = MetricHashes(redis, batcher=batcher)
        self._flush_seconds = flush_seconds
        # (op, family, kind, field) -> amount
        self._buffer: dict[tuple[Op, str, Kind, str], float] = {}
        self._buffer_lock = threading.Lock()
        self._flusher_pid: int | None = None

    # --- buffering (DIGIT calls) ---

    def _buffered(self, events: Sequence[_Event]) -> None:
        with self._buffer_lock:
            for op, name, kind, field, amount in _operations(events):
                where = (op, name, kind, field)
                self._buffer[where] = self._buffer.get(where, 0) + amount
        self._ensure_flusher()

    def flush(self) -> None:
        """Write what the process has summed so far (the scrape, a job's end, the flusher)."""
        with self._buffer_lock:
            pending, self._buffer = self._buffer, {}
        if pending:
            self._apply([(*where, amount) for where, amount in pending.items()])

    def _ensure_flusher(self) -> None:
        # One daemon thread per process (a greenlet under gevent); a forked child (an RQ work
        # horse) starts its own, and its job flushes on the way out.
        pid = os.getpid()
        if self._flusher_pid == pid:
            return
        with self._buffer_lock:
            if self._flusher_pid == pid:
                return
            self._flusher_pid = pid
        threading.Thread(target=self._flush_forever, name="metrics-flusher", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_seconds)
            self.flush()

    # --- primitives ---

    def inc(self, family: Family, labels: Mapping[str, str], amount: int = 1) -> None:
        self._write([(family, labels, None, amount)])

    def observe(self, family: Family, labels: Mapping[str, str], value: float) -> None:
        self._write([(family, labels, value, 0)])

    def _write(self, events: Sequence[_Event]) -> None:
        self._apply(_operations(events))

    def _apply(self, operations: Sequence[Increment]) -> None:
        """One pipelined round trip of hash increments; a failure is logged, never raised."""
        try:
            self._hashes.increment(operations)
        except redis_lib.RedisError as exc:
            log.warning("could not record metrics", extra={"error": type(exc).__name__})

    # --- reading (the collector) ---

    def counters(self, family: Family) -> list[tuple[list[str], float]]:
        raw = self._hashes.counter(family.name)
        return sorted((json.loads(k), float(v)) for k, v in raw.items())

    def histograms(self, family: Family) -> list[tuple[list[str], HistogramData]]:
        raw = self._hashes.histogram(family.name)
        series: dict[tuple[str, ...], dict[str, float]] = {}
        for k, v in raw.items():
            parts = json.loads(k)
            series.setdefault(tuple(parts[:-1]), {})[parts[-1]] = float(v)
        out = []
        bounds = [bucket_label(b) for b in family.buckets] + [INF]
        for labels, data in sorted(series.items()):
            running = 0.0
            cumulative = []
            for bound in bounds:
                running += data.get(bound, 0.0)
                cumulative.append((bound, running))
            out.append(
                (
                    list(labels),
                    HistogramData(
                        buckets=cumulative, count=running, total=data.get(SUM_FIELD, 0.0)
                    ),
                )
            )
        return out

    # --- Observer ---

    def digit_call(self, endpoint: str, outcome: str, seconds: float, codes: Sequence[str]) -> None:
        events: list[tuple[Family, Mapping[str, str], float | None, int]] = [
            (catalog.DIGIT_REQUESTS, {"endpoint": endpoint, "status": outcome}, None, 1),
            (catalog.DIGIT_LATENCY, {"endpoint": endpoint}, seconds, 0),
        ]
        for code in sorted(set(codes)):
            events.append((catalog.DIGIT_ERRORS, {"endpoint": endpoint, "code": code}, None, 1))
        self._buffered(events)

    def token_renewed(self, kind: str) -> None:
        self.inc(catalog.TOKEN_RENEWALS, {"kind": kind})

    def payment_accepted(self, payment: Payment) -> None:
        self._write(_per_service(catalog.PAYMENTS_ACCEPTED, payment))

    def payment_registered(self, payment: Payment) -> None:
        events = _per_service(catalog.PAYMENTS_REGISTERED, payment)
        if payment.registered_at is not None:
            seconds = (payment.registered_at - payment.created_at).total_seconds()
            events.append(
                (catalog.REGISTRATION_LATENCY, {"tenant": payment.tenant_id}, max(seconds, 0.0), 0)
            )
        events.append(
            (catalog.REGISTRATION_ATTEMPTS, {"outcome": "REGISTERED"}, float(payment.attempts), 0)
        )
        self._write(events)

    def payment_needs_attention(self, payment: Payment) -> None:
        reason = payment.needs_attention_reason or ""
        events = _per_service(catalog.PAYMENTS_NEEDS_ATTENTION, payment, reason=reason)
        events.append(
            (
                catalog.REGISTRATION_ATTEMPTS,
                {"outcome": "NEEDS_ATTENTION"},
                float(payment.attempts),
                0,
            )
        )
        self._write(events)

    def reconciliation_flagged(self, reason: str) -> None:
        self.inc(catalog.RECONCILIATION_FLAGS, {"reason": reason})


def _operations(events: Sequence[_Event]) -> list[Increment]:
    """The hash increments that record `events`: (incr|incrfloat, family, kind, field, amount)."""
    operations: list[Increment] = []
    for family, labels, value, amount in events:
        values = [str(labels.get(name, "")) for name in family.labels]
        if family.kind == "counter":
            operations.append(("incr", family.name, "counter", field_name(values), amount))
        elif family.kind == "histogram" and value is not None:
            bucket = field_name(values, bucket_for(family, value))
            operations.append(("incr", family.name, "histogram", bucket, 1))
            operations.append(
                ("incrfloat", family.name, "histogram", field_name(values, SUM_FIELD), value)
            )
        else:
            raise ValueError(f"{family.name}: cannot record a {family.kind} here")
    return operations


def _per_service(
    family: Family, payment: Payment, **extra: str
) -> list[tuple[Family, Mapping[str, str], float | None, int]]:
    services = sorted({bill.business_service for bill in payment.bills})
    return [
        (family, {"tenant": payment.tenant_id, "service": service, **extra}, None, 1)
        for service in services
    ]
