"""The daily walk of DIGIT's payments runs in a real `integrator worker`: its maintenance loop
enqueues it once a day (deterministic job id) and the job records what the ledger does not
explain. The sandbox over real HTTP, a real ledger and Redis."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis as redis_lib
import requests
from rq.job import Job

from integrator.digit.client import DigitClient
from integrator.jobs.reconcile import daily_walk_job_id, enqueue_daily_walk
from integrator.jobs.scheduling import MAINTENANCE_QUEUE
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.payments.registration import Registrar
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.findings import FindingStore
from integrator.store.leases import LeaseStore
from integrator.store.payments import PaymentStore
from tests.integration.jobs.conftest import make_pending, wait_until


def test_the_worker_walks_the_days_before_today_once_a_day_and_records_an_orphan(
    job_settings: Settings,
    sandbox: str,
    db: Database,
    redis: redis_lib.Redis,
    digit: DigitClient,
    store: PaymentStore,
    workers: Callable[..., subprocess.Popen[bytes]],
) -> None:
    payment = make_pending(digit, store)
    # DIGIT's calendar says yesterday when the create commits (a day the daily walk covers)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    requests.post(
        f"{sandbox}/_sandbox/clock", json={"now": int(yesterday.timestamp() * 1000)}, timeout=5
    ).raise_for_status()
    registrar = Registrar(
        payments=store,
        leases=LeaseStore(db),
        digit=digit,
        lease_ttl_seconds=job_settings.lease_ttl_seconds,
        timezone=job_settings.digit_timezone,
        clock=lambda: datetime.now(UTC),
    )
    made = digit.create_payment(registrar.digit_request(payment))
    requests.post(f"{sandbox}/_sandbox/clock", json={"advance_seconds": 86400}, timeout=5)
    # the ledger gave up on it and an operator refunded it: DIGIT's payment is an orphan
    store.save(
        states.transition(
            payment,
            PaymentStatus.NEEDS_ATTENTION,
            actor="worker",
            reason="RETRIES_EXHAUSTED",
            at=payment.created_at,
        ),
        fence=None,
    )
    findings = FindingStore(db)
    assert findings.findings() == []

    workers()

    found = wait_until(findings.findings, timeout=60, what="the daily walk to record the orphan")
    assert [(f.kind, f.digit_payment_id, f.payment_id) for f in found] == [
        ("ORPHAN", made.id, payment.id)
    ]
    today = datetime.now(job_settings.digit_timezone).date()
    job = Job.fetch(daily_walk_job_id(today), connection=redis)
    wait_until(lambda: job.get_status(refresh=True) == "finished", timeout=30, what="the walk")
    result = job.return_value()
    assert result is not None and result["orphans"] == 1 and result["complete"] is True
    assert result["firstDay"] == (today - timedelta(days=2)).isoformat()
    # once a day: a second enqueue the same day is a no-op
    assert enqueue_daily_walk(redis, MAINTENANCE_QUEUE, today) is False
    time.sleep(0.5)
    assert len(findings.findings()) == 1
