"""The worker's maintenance loop: the sweeper and the DIGIT probe, in a background thread.

    sweeper  every `sweeper_period_seconds`: each PENDING payment older than the lease TTL whose
             lease is free and that has no job that can run (none, failed, or stuck after its
             worker was killed) gets a job now. On top of RQ's own abandoned-job handling, this
             is what guarantees a payment is never left behind.
    probe    every `digit_probe_seconds` while "digit down since" is set: `DigitClient.ping()`;
             on an answer, every payment waiting for DIGIT runs now (`DigitOutage.release`).
    reversals  every `sweeper_period_seconds`: reversal requests DIGIT left unanswered are
             looked up (never sent again) until DIGIT shows them applied or they can no longer
             be; a reversal whose dues are followed without a job gets one
             (jobs/cancellation.py `sweep_reversals`).
    webhooks every `sweeper_period_seconds`: a webhook delivery owed by a payment's recent move
             and never attempted (its job lost with Redis) is enqueued again
             (jobs/webhooks.py `sweep_webhooks`).
    reconcile  hourly: makes sure today's reconciliation job and today's walk of DIGIT's
             payments (jobs/reconcile.py) are on the maintenance queue; their deterministic ids
             make each run once a day.

Every worker process runs the loop; a Redis lock (PX = the shortest period) lets one of them act
per period. The loop uses its own Redis and DIGIT clients, never the jobs' (see context.py).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime, timedelta

from integrator.jobs.cancellation import sweep_reversals
from integrator.jobs.context import JobContext
from integrator.jobs.reconcile import enqueue_daily, enqueue_daily_walk
from integrator.jobs.scheduling import MAINTENANCE_QUEUE
from integrator.jobs.webhooks import sweep_webhooks
from integrator.payments.models import PaymentStatus
from integrator.store import keys

log = logging.getLogger("integrator.jobs.maintenance")

PAGE: int = 200


def sweep(ctx: JobContext) -> list[str]:
    """Give every stranded PENDING payment a job now; returns their ids."""
    now = ctx.clock()
    grace = timedelta(seconds=ctx.settings.lease_ttl_seconds)
    enqueued: list[str] = []
    offset = 0
    while True:
        ids = ctx.payments.ids_by_status(PaymentStatus.PENDING, offset=offset, limit=PAGE)
        for payment in ctx.payments.get_many(ids):
            if payment.status is not PaymentStatus.PENDING or now - payment.created_at < grace:
                continue  # just accepted: the API is registering it inline and scheduling it
            if ctx.leases.current(payment.id) is not None:
                continue  # an attempt is running (or its create's outcome is still settling)
            if ctx.scheduler.ensure_scheduled(payment.id):
                enqueued.append(payment.id)
        if len(ids) < PAGE:
            break
        offset += PAGE
    if enqueued:
        log.warning("sweeper re-enqueued stranded payments", extra={"payment_ids": enqueued})
    return enqueued


def probe(ctx: JobContext) -> int | None:
    """While DIGIT is marked down: ping it; on an answer release the waiting payments."""
    if ctx.outage.down_since() is None:
        return None
    if not ctx.digit.ping():
        return None
    return ctx.outage.release(ctx.scheduler)


#: How often the loop makes sure today's reconciliation job exists (it runs once a day).
RECONCILE_CHECK_SECONDS = 3600


def enqueue_reconciliation(ctx: JobContext) -> bool:
    """Enqueue today's reconciliation of REGISTERED payments against DIGIT, once per day."""
    today = datetime.now(ctx.settings.settlement_timezone).date()
    enqueued = enqueue_daily(ctx.redis, MAINTENANCE_QUEUE, today)
    # and the walk of DIGIT's payments of the days before (its days are DIGIT's calendar days)
    walk_day = datetime.now(ctx.settings.digit_timezone).date()
    return enqueue_daily_walk(ctx.redis, MAINTENANCE_QUEUE, walk_day) or enqueued


class MaintenanceLoop:
    """Runs `sweep` and `probe` on their periods in a daemon thread until `stop()`."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="integrator-maintenance", daemon=True
        )
        self._tick = max(
            0.2, min(ctx.settings.sweeper_period_seconds, ctx.settings.digit_probe_seconds) / 2
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        settings = self._ctx.settings
        next_sweep = time.monotonic() + settings.sweeper_period_seconds
        next_probe = time.monotonic() + settings.digit_probe_seconds
        next_reconcile = time.monotonic()
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            if now >= next_reconcile:
                next_reconcile = now + RECONCILE_CHECK_SECONDS
                self._guarded("reconcile", RECONCILE_CHECK_SECONDS, enqueue_reconciliation)
            if now >= next_probe:
                next_probe = now + settings.digit_probe_seconds
                self._guarded("probe", settings.digit_probe_seconds, probe)
            if now >= next_sweep:
                next_sweep = now + settings.sweeper_period_seconds
                self._guarded("sweep", settings.sweeper_period_seconds, sweep)
                self._guarded("reversals", settings.sweeper_period_seconds, sweep_reversals)
                self._guarded("webhooks", settings.sweeper_period_seconds, sweep_webhooks)

    def _guarded(self, name: str, period: float, task: object) -> None:
        """Run `task` unless another worker did this period; never let it kill the loop."""
        key = f"{keys.sweep_lock()}:{name}"
        try:
            if not self._ctx.redis.set(
                key, secrets.token_hex(4), nx=True, px=max(int(period * 1000 * 0.9), 100)
            ):
                return
            assert callable(task)
            task(self._ctx)
        except Exception:
            log.exception("maintenance task failed", extra={"task": name})
