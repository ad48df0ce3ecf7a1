"""The chaos run's offline devices (chaos/offline.py) against the real parts: the integrator over
HTTP, the DIGIT sandbox over HTTP, a real ledger and Redis, a real `integrator worker`. They go
offline, the counter pays some of their consumers, they upload twice; the verdict finds nothing
lost or duplicated and every quarantine explained."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from chaos.check import check
from chaos.offline import DEVICES, OfflinePlan, OfflineRun, settle
from chaos.run import all_stored, drain, stored_view
from integrator.app import create_app
from integrator.services import Services, services_of
from integrator.settings import Settings
from tests.support.live_app import serve
from tests.support.workers import worker_processes

AMR, JAL = "pb.amritsar", "pb.jalandhar"
CONSUMERS = (
    (AMR, "WS", "WS/107/2019-20/000022"),
    (AMR, "SW", "SW/107/2019-20/000011"),
    (AMR, "TL", "PB-TL-2024-07-04-002271"),
    (AMR, "WS", "WS/107/2019-20/000023"),
    (AMR, "PT", "PT-107-000124"),
    (AMR, "SW", "SW/107/2019-20/000012"),
    (JAL, "WS", "WS/1013/2019-20/000101"),
    (JAL, "SW", "SW/1013/2019-20/000051"),
    (JAL, "TL", "PB-TL-2024-08-12-000202"),
)


@pytest.fixture
def env(redis_url: str, sandbox: str, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DIGIT_BASE_URL": sandbox,
        "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
        "DIGIT_PASSWORD": "sandbox-password",
        "DIGIT_TENANT_ID": AMR,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "DIGIT_CONNECT_TIMEOUT": "0.5",
        "DIGIT_READ_TIMEOUT": "2",
        "LEASE_TTL_SECONDS": "3",
        "RETRY_SCHEDULE_SECONDS": "1,2",
        "SWEEPER_PERIOD_SECONDS": "1",
        "DIGIT_PROBE_SECONDS": "0.5",
        "WORKER_MAINTENANCE_SECONDS": "5",
    }


@pytest.fixture
def app(env: dict[str, str], redis: Any) -> Iterator[Flask]:
    app = create_app(Settings.from_env(env, dotenv=False))
    yield app
    services_of(app).redis.close()


def test_offline_devices_lose_nothing_duplicate_nothing_and_explain_every_quarantine(
    app: Flask, env: dict[str, str], sandbox: str, tmp_path: Path
) -> None:
    services: Services = services_of(app)
    with serve(app) as live, worker_processes(env, tmp_path) as start_worker:
        start_worker()
        run = OfflineRun(
            env={**os.environ, **env},
            web_urls=[live],
            sandbox_url=sandbox,
            plan=OfflinePlan(consumers=CONSUMERS, extra_consumers=0),
            phase_seconds=6,
            seed=3,
            log=print,
        )
        run.start()
        run.join(timeout=120)
        assert drain(services.payments_store, 60) < 60
        stored = [stored_view(p) for p in all_stored(services.payments_store)]
    verdict = check(answers=[], stored=stored, digit=_digit(sandbox), injected={})

    settled = settle(verdict, run, stored, {})

    assert settled["ok"], settled["failures"]
    summary = settled["offline"]
    assert summary["devices"] == DEVICES and summary["simulator_errors"] == []
    # one collected too long ago, and each consumer the counter paid meanwhile
    assert len(run.counter) == DEVICES
    assert summary["outcomes"] == {
        "quarantined": 1 + len(run.counter),
        "accepted": len(CONSUMERS) - 1 - len(run.counter),
    }
    assert settled["statuses"]["REGISTERED"] == len(CONSUMERS) - 1 - len(run.counter)
    assert summary["quarantined_explained"] == summary["outcomes"].get("quarantined", 0)


def _digit(sandbox: str) -> list[dict[str, Any]]:
    import requests

    found = requests.get(f"{sandbox}/_sandbox/payments", timeout=10).json()
    return list(found["Payments"] if isinstance(found, dict) else found)
