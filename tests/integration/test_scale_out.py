"""Several processes, one system: two gunicorn web instances on two ports and three
`integrator worker` processes on one Redis, in front of the DIGIT sandbox, all real processes.

They must behave as one integrator: one DIGIT login between them, one DIGIT payment per payment
however many processes try to register it, and an Idempotency-Key honoured across instances.
Also here: the Redis backup and restore procedure (deploy/redis-backup.sh, redis-restore.sh).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests

from integrator import jsonutil
from integrator.localpg import PrivateCluster
from integrator.payments.models import PaymentStatus
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.payments import PaymentStore
from tests.support.ledger import fresh_database
from tests.support.processes import free_port, redis_server, sandbox_server, wait_for

ROOT = Path(__file__).resolve().parents[2]
TENANT = "pb.amritsar"
# seed consumers with something due (`integrator sandbox --list`)
CONSUMERS = [
    ("WS", "WS/107/2019-20/000022"),
    ("SW", "SW/107/2019-20/000011"),
    ("PT", "PT-107-000123"),
    ("WS", "WS/107/2019-20/000023"),
]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Cluster:
    def __init__(
        self, *, redis_url: str, sandbox: str, webs: list[str], key: str, ledger: Database
    ) -> None:
        self.ledger = ledger
        self.redis_url = redis_url
        self.sandbox = sandbox
        self.webs = webs
        self.key = key
        self.redis = redis_lib.Redis.from_url(redis_url)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def bills(self, web: str, service: str, code: str) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{web}/v1/bills",
            headers=self.headers(),
            timeout=30,
            params={"tenantId": TENANT, "businessService": service, "consumerCode": code},
        )
        assert answer.status_code == 200, answer.text
        return list(jsonutil.loads(answer.content)["bills"])

    def pay(self, web: str, bill: dict[str, Any], key: str) -> requests.Response:
        body = {
            "tenantId": TENANT,
            "paymentMode": "CASH",
            "paidBy": "OWNER",
            "payerName": "Scale Out",
            "mobileNumber": "9876543210",
            "bills": [{"billId": bill["billId"], "amount": bill["totalAmount"]}],
        }
        return requests.post(
            f"{web}/v1/payments",
            data=jsonutil.dumps(body),
            timeout=60,
            headers=self.headers(**{"Idempotency-Key": key, "Content-Type": "application/json"}),
        )

    def counters(self) -> dict[str, int]:
        return dict(requests.get(f"{self.sandbox}/_sandbox/counters", timeout=5).json())

    def faults(self, **values: Any) -> None:
        requests.post(f"{self.sandbox}/_sandbox/faults", json=values, timeout=5).raise_for_status()

    def digit_payments(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.sandbox}/_sandbox/payments", timeout=5)
        return list(jsonutil.loads(answer.content)["Payments"])


def _bill(offer: dict[str, Any]) -> dict[str, Any]:
    bill = offer.get("bill", offer)
    assert isinstance(bill, dict)
    return bill


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_cluster: PrivateCluster,
    database_template: str,
) -> Iterator[Cluster]:
    if not (ROOT / "integrator" / "jobs").is_dir():
        pytest.skip("the RQ worker (integrator/jobs) is not there")
    tmp = tmp_path_factory.mktemp("scale-out")
    with (
        redis_server(tmp / "redis") as (redis_url, _),
        sandbox_server() as sandbox,
        fresh_database(postgres_cluster, database_template) as database_url,
    ):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DIGIT_", "REDIS_", "WEB_", "PORT", "DATABASE_"))
        }
        env.update(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "DIGIT_BASE_URL": sandbox,
                "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
                "DIGIT_PASSWORD": "sandbox-password",
                "DIGIT_TENANT_ID": TENANT,
                "SECRET_KEY": secrets.token_hex(16),
                "LOG_LEVEL": "WARNING",
                "WEB_WORKERS": "1",
                # short clocks so an outage is over in seconds, not minutes
                "DIGIT_CONNECT_TIMEOUT": "0.5",
                "DIGIT_READ_TIMEOUT": "3",
                "LEASE_TTL_SECONDS": "4",
                "RETRY_SCHEDULE_SECONDS": "1",
                "DIGIT_PROBE_SECONDS": "1",
                "SWEEPER_PERIOD_SECONDS": "1",
                "REGISTRATION_BUDGET_SECONDS": "2",
                "VAR_DIR": str(tmp / "var"),
            }
        )
        procs: list[subprocess.Popen[bytes]] = []
        logs = tmp / "logs"
        logs.mkdir()
        try:
            webs = []
            for i in range(2):
                port = free_port()
                with (logs / f"web-{i}.log").open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "gunicorn",
                                "-c",
                                str(ROOT / "config" / "gunicorn.conf.py"),
                                "integrator.wsgi:app",
                            ],
                            cwd=ROOT,
                            env={**env, "PORT": str(port)},
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
                webs.append(f"http://127.0.0.1:{port}")
            for i in range(3):
                with (logs / f"worker-{i}.log").open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "integrator.cli", "worker"],
                            cwd=ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            for web in webs:
                wait_for(
                    lambda web=web: requests.get(f"{web}/healthz", timeout=1).ok,
                    timeout=45,
                    what=f"web {web} (logs in {logs})",
                )
            client = redis_lib.Redis.from_url(redis_url)
            ledger = Database.connect(database_url, max_size=2)
            _, key = DeviceStore(ledger, client, clock=lambda: datetime.now(UTC)).add(
                "scale-out", [TENANT]
            )
            client.close()
            try:
                yield Cluster(
                    redis_url=redis_url, sandbox=sandbox, webs=webs, key=key, ledger=ledger
                )
            finally:
                ledger.close()
            for proc in procs:
                assert proc.poll() is None, f"a process died during the tests (logs in {logs})"
        finally:
            for proc in procs:
                _stop(proc)


def test_two_instances_and_three_workers_share_one_digit_login(cluster: Cluster) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda i: cluster.bills(cluster.webs[i % 2], *CONSUMERS[i % len(CONSUMERS)]),
                range(16),
            )
        )
    assert all(results)
    assert cluster.counters().get("login", 0) == 1


def test_one_idempotency_key_sent_to_both_instances_makes_one_payment(cluster: Cluster) -> None:
    bill = _bill(cluster.bills(cluster.webs[0], *CONSUMERS[0])[0])
    key = secrets.token_hex(12)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda web: cluster.pay(web, bill, key), cluster.webs))
    # One wins; the other is a replay of it (or is told the first is still in flight: retry).
    for _ in range(20):
        if all(a.status_code in (200, 201, 202) for a in answers):
            break
        time.sleep(0.5)
        answers = [
            a if a.status_code in (200, 201, 202) else cluster.pay(web, bill, key)
            for a, web in zip(answers, cluster.webs, strict=True)
        ]
    ids = {jsonutil.loads(a.content)["id"] for a in answers}
    assert len(ids) == 1, [a.text for a in answers]
    wait_for(
        lambda: (
            sum(
                1
                for p in cluster.digit_payments()
                if any(d["billId"] == bill["billId"] for d in p["paymentDetails"])
            )
            == 1
        ),
        timeout=20,
        what="one DIGIT payment for the bill",
    )
    assert cluster.counters().get("login", 0) == 1


def test_payments_accepted_during_an_outage_are_registered_once_each(cluster: Cluster) -> None:
    offers = [_bill(cluster.bills(cluster.webs[i % 2], *c)[0]) for i, c in enumerate(CONSUMERS[1:])]
    cluster.faults(down=True)
    try:
        answers = [
            cluster.pay(cluster.webs[i % 2], bill, secrets.token_hex(12))
            for i, bill in enumerate(offers)
        ]
    finally:
        cluster.faults(down=False)
    assert [a.status_code for a in answers] == [202] * len(offers), [a.text for a in answers]
    ids = [jsonutil.loads(a.content)["id"] for a in answers]
    store = PaymentStore(cluster.ledger)

    def all_registered() -> bool:
        found = [store.get(pid) for pid in ids]
        return all(p is not None and p.status is PaymentStatus.REGISTERED for p in found)

    wait_for(all_registered, timeout=40, interval=0.25, what="the workers to register them")
    creates = [
        p
        for p in cluster.digit_payments()
        if (p.get("additionalDetails") or {}).get("integratorPaymentId") in ids
    ]
    assert sorted(p["additionalDetails"]["integratorPaymentId"] for p in creates) == sorted(ids)
    assert cluster.counters().get("login", 0) == 1


def test_proxy_fix_trusts_forwarded_headers_only_when_configured(
    tmp_path: Path, redis_url: str
) -> None:
    from flask import Flask, request

    from integrator.proxy import init_proxy_fix
    from integrator.settings import Settings

    base = Settings.from_env({"REDIS_URL": redis_url, "SECRET_KEY": "x" * 32}, dotenv=False)
    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.7")):
        app = Flask("proxied")
        app.add_url_rule("/ip", "ip", lambda: f"{request.remote_addr} {request.scheme}")
        assert init_proxy_fix(app, base.with_changes(trusted_proxy_count=hops)) is (hops > 0)
        answer = app.test_client().get(
            "/ip",
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )
        scheme = "https" if hops else "http"
        assert answer.get_data(as_text=True) == f"{expected} {scheme}"
