"""The /metrics collector: recorded counters and histograms from Redis, gauges read at scrape time.

Counters come from Redis, payment and reconciliation gauges from the ledger, so each gunicorn
worker answers a scrape with the same values (no PROMETHEUS_MULTIPROC_DIR needed). A part that
cannot be read is skipped and logged; the scrape still answers, with `integrator_redis_up 0`
when Redis is down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import redis as redis_lib
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from integrator.observability import catalog
from integrator.observability.catalog import Family
from integrator.observability.queues import QueueInspector
from integrator.observability.recorder import RedisMetrics
from integrator.payments.models import PaymentStatus
from integrator.payments.reconciliation_records import RUN_KINDS
from integrator.store.tokens import TokenStore

log = logging.getLogger("integrator.metrics")


class LedgerGauges(Protocol):
    """What the collector reads from the ledger (store.payments.PaymentStore)."""

    def count_by_status(self) -> dict[PaymentStatus, int]: ...

    def oldest_created(self, status: PaymentStatus) -> datetime | None: ...


class ReconciliationResults(Protocol):
    """What the collector reads of reconciliation (store.reconciliation.ReconciliationStore)."""

    def count(self) -> int: ...

    def unacknowledged(self) -> int: ...

    def last_runs(self, *, complete_only: bool = False) -> dict[str, dict[str, Any]]: ...


def _gauge(family: Family) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, labels=family.labels or None)


class IntegratorCollector(Collector):
    """Collects every family of `catalog.ALL` from one Redis connection."""

    def __init__(
        self,
        redis: redis_lib.Redis,
        *,
        ledger: LedgerGauges,
        reconciliation: ReconciliationResults,
        queues: QueueInspector,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._ledger = ledger
        self._reconciliation = reconciliation
        self._metrics = RedisMetrics(redis)
        self._queues = queues
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # names are known but values need Redis: no collect() at registration

    def collect(self) -> Iterator[Metric]:
        up = _gauge(catalog.REDIS_UP)
        try:
            self._redis.ping()
            up.add_metric([], 1)
        except redis_lib.RedisError:
            up.add_metric([], 0)
            yield up
            return
        yield up
        for family in catalog.RECORDED:
            yield from self._guard(family, partial(self._recorded, family))
        for family, read in (
            (catalog.PAYMENTS_BY_STATUS, self._payments_by_status),
            (catalog.PAYMENTS_FLAGGED, self._flagged),
            (catalog.OLDEST_PENDING, self._oldest_pending),
            (catalog.QUEUE_JOBS, self._queue_jobs),
            (catalog.WORKERS_ALIVE, self._workers),
            (catalog.AUTH_LOCKED, self._auth_locked),
            (catalog.BAD_LOGINS, self._bad_logins),
            (catalog.REDIS_MEMORY, self._redis_memory),
            (catalog.REDIS_MAXMEMORY, self._redis_maxmemory),
            (catalog.RECONCILIATION_LAST_RUN, self._last_reconciliation),
            (catalog.RECONCILIATION_LAST_COMPLETE_RUN, self._last_complete_reconciliation),
            (catalog.RECONCILIATION_UNACKNOWLEDGED, self._unacknowledged),
        ):
            yield from self._guard(family, partial(self._gauged, family, read))

    def _guard(self, family: Family, build: Callable[[], Metric]) -> Iterator[Metric]:
        try:
            yield build()
        except Exception:
            log.exception("could not collect %s", family.name)

    # --- recorded in Redis ---

    def _recorded(self, family: Family) -> Metric:
        if family.kind == "counter":
            counter = CounterMetricFamily(family.name, family.help, labels=family.labels)
            for labels, value in self._metrics.counters(family):
                counter.add_metric(labels, value)
            return counter
        histogram = HistogramMetricFamily(family.name, family.help, labels=family.labels)
        for labels, data in self._metrics.histograms(family):
            histogram.add_metric(labels, buckets=data.buckets, sum_value=data.total)
        return histogram

    # --- gauges ---

    def _gauged(self, family: Family, read: Callable[[], list[tuple[list[str], float]]]) -> Metric:
        gauge = _gauge(family)
        for labels, value in read():
            gauge.add_metric(labels, value)
        return gauge

    def _payments_by_status(self) -> list[tuple[list[str], float]]:
        return [([s.value], float(n)) for s, n in self._ledger.count_by_status().items()]

    def _flagged(self) -> list[tuple[list[str], float]]:
        return [([], float(self._reconciliation.count()))]

    def _unacknowledged(self) -> list[tuple[list[str], float]]:
        return [([], float(self._reconciliation.unacknowledged()))]

    def _oldest_pending(self) -> list[tuple[list[str], float]]:
        oldest = self._ledger.oldest_created(PaymentStatus.PENDING)
        if oldest is None:
            return [([], 0.0)]
        return [([], max(0.0, self._clock() - oldest.timestamp()))]

    def _queue_jobs(self) -> list[tuple[list[str], float]]:
        out: list[tuple[list[str], float]] = []
        for name in self._queues.names:
            counts = self._queues.counts(name)
            out += [
                ([name, "queued"], float(counts.queued)),
                ([name, "scheduled"], float(counts.scheduled)),
                ([name, "started"], float(counts.started)),
                ([name, "failed"], float(counts.failed)),
            ]
        return out

    def _workers(self) -> list[tuple[list[str], float]]:
        return [([], float(len(self._queues.workers())))]

    def _auth_locked(self) -> list[tuple[list[str], float]]:
        return [([], 1.0 if TokenStore(self._redis).login_lock() is not None else 0.0)]

    def _bad_logins(self) -> list[tuple[list[str], float]]:
        return [([], float(TokenStore(self._redis).bad_logins()))]

    def _memory_info(self) -> dict[str, Any]:
        return self._redis.info("memory")

    def _redis_memory(self) -> list[tuple[list[str], float]]:
        return [([], float(self._memory_info().get("used_memory", 0)))]

    def _redis_maxmemory(self) -> list[tuple[list[str], float]]:
        return [([], float(self._memory_info().get("maxmemory", 0)))]

    def _last_reconciliation(self) -> list[tuple[list[str], float]]:
        return self._finished_per_kind(self._reconciliation.last_runs())

    def _last_complete_reconciliation(self) -> list[tuple[list[str], float]]:
        return self._finished_per_kind(self._reconciliation.last_runs(complete_only=True))

    @staticmethod
    def _finished_per_kind(runs: dict[str, dict[str, Any]]) -> list[tuple[list[str], float]]:
        # every kind, 0 when it never (completely) ran: a kind that never completes must alert
        return [
            ([kind], float(runs.get(kind, {}).get("finished_at_epoch") or 0)) for kind in RUN_KINDS
        ]
