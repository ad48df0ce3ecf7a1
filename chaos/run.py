"""`python -m chaos` (`make chaos`): the whole integrator under fire, then a strict check.

Starts its own ledger (a PostgreSQL primary with a synchronous standby, the app on a multi-host
URL, migrated with `integrator db upgrade`), its own Redis on a free port with a fresh data dir,
the DIGIT sandbox (with one extra consumer per planned bill), two gunicorn web
instances (config/gunicorn.conf.py as-is) and two `integrator worker`s; registers devices with
`integrator devices add`; runs the devices and the fault timeline (chaos.faults); waits for the
queue to drain; checks our store and the devices' answers against the sandbox's own records
(chaos.check); then closes the run as ops would and walks DIGIT's payments of the run's days
(chaos.closing); prints a table, writes chaos/results/latest.json and exits 1 on any loss,
duplicate, orphan, wrong receipt, unexplained NEEDS_ATTENTION, payment left PENDING, payment left
open after the closing, or orphan, duplicate or difference found by the walk.

Every schedule is shortened through the environment (CHAOS_ENV below), as tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests

from chaos import offline
from chaos.check import check, table
from chaos.closing import close_needs_attention, closing_failures, walk_run_days
from chaos.devices import Fleet, plan
from chaos.faults import Chaos
from chaos.procs import ROOT, Cluster, Postgres, free_port
from integrator.payments.models import Payment, PaymentStatus
from integrator.store.db import Database, DatabaseUnavailable
from integrator.store.payments import PaymentStore

RESULTS = ROOT / "chaos" / "results"

#: The integrator's settings for a chaos run: every wait shortened so a run takes minutes.
CHAOS_ENV = {
    "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
    "DIGIT_PASSWORD": "sandbox-password",
    "DIGIT_TENANT_ID": "pb.amritsar",
    "SECRET_KEY": "chaos-run-not-a-secret",
    "DIGIT_CONNECT_TIMEOUT": "0.5",
    "DIGIT_READ_TIMEOUT": "2",
    "LEASE_TTL_SECONDS": "4",
    # longer than any create the sandbox holds before committing it late (HOLD_SECONDS)
    "CREATE_SETTLE_SECONDS": "25",
    "REGISTRATION_BUDGET_SECONDS": "2",
    "RETRY_SCHEDULE_SECONDS": "1,2,3",
    "RETRY_MAX_AGE_SECONDS": "3600",  # nothing may give up within a run: that would hide a bug
    "AUTH_BLOCKED_RETRY_SECONDS": "1",
    "SWEEPER_PERIOD_SECONDS": "2",
    "DIGIT_PROBE_SECONDS": "1",
    "REGISTRATION_JOB_TIMEOUT_SECONDS": "30",
    "WORKER_MAINTENANCE_SECONDS": "5",
    "DEVICE_RATE_LIMIT_PER_MINUTE": "1000000",
    # the offline devices hold all they collect (no hand-over within a run): a limit the run does
    # not inject as a cause would quarantine some of it unexplained
    "OFFLINE_CASH_LIMIT": "100000000",
    "WEB_WORKERS": "1",
    "LOG_LEVEL": "INFO",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--payments",
        type=int,
        default=int(os.environ.get("CHAOS_PAYMENTS", "2000")),
        help="payments to attempt (CHAOS_PAYMENTS; 2000; CI: 300)",
    )
    parser.add_argument("--seed", type=int, default=1, help="plan and device seed (1)")
    parser.add_argument(
        "--devices", type=int, default=0, help="device threads (0: 12, or 20 above 500 payments)"
    )
    parser.add_argument("--workers", type=int, default=2, help="integrator workers (2)")
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=0.0,
        help="spread the payments over this long (0: max(40, payments*0.075))",
    )
    parser.add_argument(
        "--client-timeout", type=float, default=2.0, help="device read timeout in seconds (2.0)"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=90.0,
        help="a device gives up on one payment after this long (90)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=0.0,
        help="wait this long for PENDING to reach 0 (0: 90 + payments*0.03)",
    )
    args = parser.parse_args(argv)
    if args.payments < 1:
        parser.error("--payments must be at least 1")
    args.devices = args.devices or (12 if args.payments <= 500 else 20)
    args.phase_seconds = args.phase_seconds or max(40.0, args.payments * 0.075)
    args.drain_timeout = args.drain_timeout or 90.0 + args.payments * 0.03
    return args


def log(message: str) -> None:
    print(f"chaos {datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def migrate(env: dict[str, str]) -> None:
    """`integrator db upgrade` on the run's ledger, as an operator would before starting."""
    done = subprocess.run(
        [sys.executable, "-m", "integrator.cli", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"integrator db upgrade failed:\n{done.stdout}{done.stderr}")


def add_devices(env: dict[str, str], count: int) -> list[str]:
    """`integrator devices add` for each device; the key is the last line printed."""

    def add(i: int) -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "integrator.cli",
                "devices",
                "add",
                f"chaos-{i:02d}",
                "--tenant",
                "pb",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout.strip().splitlines()[-1]

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        keys = list(pool.map(add, range(count)))
    log(f"{count} devices added in {time.monotonic() - began:.1f}s")
    return keys


def stored_view(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "idempotency_key": payment.idempotency_key,
        "status": str(payment.status),
        "reason": payment.needs_attention_reason
        or (payment.history[-1].reason if payment.status is PaymentStatus.REFUSED else None),
        "codes": list(payment.history[-1].codes) if payment.history else [],
        "tenant_id": payment.tenant_id,
        "provisional": payment.provisional,
        "attempts": payment.attempts,
        "bills": [
            {
                "bill_id": b.bill_id,
                "amount": str(b.amount),
                "consumer": [payment.tenant_id, b.business_service, b.consumer_code],
                "receipt_number": b.receipt_number,
            }
            for b in payment.bills
        ],
        "history": [
            {
                "event": h.event,
                "actor": h.actor,
                "reason": h.reason,
                "codes": list(h.codes),
                "to": str(h.to_status) if h.to_status else None,
            }
            for h in payment.history
        ]
        if payment.status is not PaymentStatus.REGISTERED
        else [],
    }


def all_stored(store: PaymentStore) -> list[Payment]:
    found: list[Payment] = []
    for status in PaymentStatus:
        offset = 0
        while ids := store.ids_by_status(status, offset=offset, limit=500):
            found += store.get_many(ids)
            offset += len(ids)
    return found


def drain(store: PaymentStore, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            pending = store.count_by_status()[PaymentStatus.PENDING]
        except DatabaseUnavailable:
            pending = -1
        if pending == 0:
            break
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    run_started = datetime.now(UTC)
    stamp = run_started.strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS / f"run-{stamp}"
    planned, extra_consumers = plan(args.payments, seed=args.seed)
    offline_plan = offline.reserve(args.payments, extra_consumers)  # devices that go offline
    extra_consumers = offline_plan.extra_consumers
    redis_port, sandbox_port = free_port(), free_port()
    web_ports = [free_port(), free_port()]
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    postgres = Postgres(run_dir=run_dir, ports=(free_port(), free_port()))
    env = {
        **os.environ,
        **CHAOS_ENV,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_url,
        "DIGIT_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "VAR_DIR": str(run_dir),
    }
    cluster = Cluster(
        run_dir=run_dir,
        env=env,
        redis_port=redis_port,
        sandbox_port=sandbox_port,
        web_ports=web_ports,
        workers=args.workers,
        extra_consumers=extra_consumers,
        postgres=postgres,
    )
    log(
        f"{args.payments} payments, {args.devices} devices, phase {args.phase_seconds:.0f}s; "
        f"logs in {run_dir}"
    )
    fleet: Fleet | None = None
    chaos: Chaos | None = None
    ledger: Database | None = None
    try:
        keys: list[str] = []

        def prepare() -> None:
            nonlocal ledger
            migrate(env)
            ledger = Database.connect(postgres.url, max_size=4)
            keys.extend(add_devices(env, args.devices))

        cluster.start(then=prepare)
        assert ledger is not None
        store = PaymentStore(ledger)
        log(f"started in {time.monotonic() - started:.0f}s")
        log(
            f"up: Redis :{redis_port}, sandbox :{sandbox_port}, web {web_ports}, "
            f"{args.workers} workers, {len(keys)} devices"
        )
        fleet = Fleet(
            web_urls=cluster.web_urls,
            device_keys=keys,
            planned=planned,
            phase_seconds=args.phase_seconds,
            client_timeout=args.client_timeout,
            deadline_seconds=args.deadline,
            seed=args.seed,
        )
        chaos = Chaos(
            cluster=cluster,
            fleet=fleet,
            ledger=store,
            phase_seconds=args.phase_seconds,
            targets=max(4, args.payments // 40),
            log=log,
        )
        offline_run = offline.OfflineRun(
            env=env,
            web_urls=cluster.web_urls,
            sandbox_url=cluster.sandbox_url,
            plan=offline_plan,
            phase_seconds=args.phase_seconds,
            seed=args.seed,
            log=log,
        )
        fleet.start()
        offline_run.start()
        chaos.start()
        chaos.join(timeout=args.phase_seconds * 1.5 + 120)
        chaos.stop()
        if not fleet.join(timeout=args.phase_seconds + args.deadline + 30):
            fleet.stop.set()
            fleet.join(timeout=args.deadline)
        offline_run.join(timeout=args.phase_seconds * 1.5 + 150)
        log(f"devices done after {time.monotonic() - started:.0f}s; draining")
        drain_seconds = drain(store, args.drain_timeout)
        stored = all_stored(store)
        digit = requests.get(f"{cluster.sandbox_url}/_sandbox/payments", timeout=60).json()
        counters = requests.get(f"{cluster.sandbox_url}/_sandbox/counters", timeout=10).json()
        queue_left = store_queue_length(redis_url)
        closing, walk = close_the_run(env, cluster.sandbox_url, started_at=run_started)
    finally:
        if ledger is not None:
            ledger.close()
        cluster.stop()
    assert fleet is not None and chaos is not None
    answers = [a.as_json() for a in fleet.answers.values()]
    verdict = check(
        answers=answers,
        stored=[stored_view(p) for p in stored],
        digit=digit["Payments"],
        injected={
            "counter": chaos.counter,
            "demand": chaos.demand,
            "clock_jump": chaos.injected.get("bill_expiry_clock_jump", 0),
        },
    )
    verdict = offline.settle(
        verdict,
        offline_run,
        [stored_view(p) for p in stored],
        {"counter": chaos.counter, "demand": chaos.demand},
    )
    outcomes: dict[str, int] = {}
    for answer in answers:
        outcomes[answer["outcome"]] = outcomes.get(answer["outcome"], 0) + 1
    internal: dict[str, int] = {}
    for what, (start, end) in chaos.windows.items():
        internal[f"during {what}"] = sum(1 for t in fleet.internal_errors if start <= t <= end)
    internal["other"] = len(fleet.internal_errors) - sum(internal.values())
    result = {
        "started_at": stamp,
        "planned": len(planned),
        "settings": {
            "payments": args.payments,
            "devices": args.devices,
            "workers": args.workers,
            "phase_seconds": args.phase_seconds,
            "client_timeout": args.client_timeout,
            "seed": args.seed,
            "extra_consumers": extra_consumers,
            "env": CHAOS_ENV,
        },
        "verdict": verdict,
        "faults": dict(chaos.injected),
        "faults_refused": dict(chaos.refused),
        "fault_timeline_error": chaos.error,
        "notes": chaos.notes,
        "injected": {"counter": chaos.counter, "demand": chaos.demand},
        "devices": {
            "requests": fleet.requests,
            "retries": fleet.retries,
            "timeouts": fleet.timeouts,
            "http": dict(sorted(fleet.http.items())),
            "internal_errors_500": internal,
            "outcomes": dict(sorted(outcomes.items())),
        },
        "processes": {
            "restarts": dict(cluster.restarts),
            "crashes": cluster.crashes,
            "starts": {p.name: p.starts for p in cluster.parts},
        },
        "sandbox_counters": counters,
        "queue_left": queue_left,
        "drain_seconds": drain_seconds,
        "duration_seconds": round(time.monotonic() - started, 1),
        "run_dir": str(run_dir.relative_to(ROOT)),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (run_dir / "answers.json").write_text(json.dumps(answers, indent=1))
    (run_dir / "stored.json").write_text(
        json.dumps([stored_view(p) for p in stored], indent=1, default=str)
    )
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    print("\nchaos run summary\n" + table(result), flush=True)
    closed_ok = report_closing(result, closing, walk)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    for kind, items in verdict["failures"].items():
        for item in items[:10]:
            print(f"  {kind}: {item}", flush=True)
    print(f"\n  details: {RESULTS / 'latest.json'}", flush=True)
    return 0 if verdict["ok"] and closed_ok else 1


def close_the_run(
    env: dict[str, str], sandbox_url: str, *, started_at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ops close every NEEDS_ATTENTION payment, then reverse reconciliation walks the run's
    days (chaos.closing); an error in either is a failure of the run, not a crash."""
    try:
        closing = close_needs_attention(env, sandbox_url, log)
    except Exception as exc:
        closing = {"error": f"{type(exc).__name__}: {exc}", "left_open": ["(closing failed)"]}
    try:
        walk = walk_run_days(env, sandbox_url, started_at, log)
    except Exception as exc:
        walk = {"error": f"{type(exc).__name__}: {exc}", "complete": False}
    return closing, walk


def report_closing(result: dict[str, Any], closing: dict[str, Any], walk: dict[str, Any]) -> bool:
    """Add the closing and the walk to the result and the printed summary; True when clean."""
    failures = closing_failures(closing, walk)
    result["closing"] = closing
    result["reverse_reconciliation"] = walk
    result["closing_failures"] = {kind: len(items) for kind, items in failures.items()}
    rows = [
        ("closed by operator actions", closing.get("actions", closing.get("error"))),
        ("left open after closing", len(closing.get("left_open", ()))),
        ("walk: DIGIT payments", f"{walk.get('digitPayments')} ({walk.get('ours')} ours)"),
        ("walk: orphans", walk.get("orphans", walk.get("error"))),
        ("walk: duplicates", walk.get("duplicates")),
        ("walk: differ", walk.get("differs")),
        ("walk: complete", walk.get("complete")),
    ]
    width = max(len(label) for label, _ in rows)
    print("\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows), flush=True)
    clean = not any(failures.values())
    print(f"  {'closing verdict'.ljust(width)}  {'PASS' if clean else 'FAIL'}", flush=True)
    for kind, items in failures.items():
        for item in items[:10]:
            print(f"  {kind}: {item}", flush=True)
    return clean


def store_queue_length(redis_url: str) -> int | None:
    import redis as redis_lib
    from rq import Queue

    from integrator.jobs.scheduling import REGISTRATION_QUEUE

    try:
        return len(
            Queue(
                REGISTRATION_QUEUE, connection=redis_lib.Redis.from_url(redis_url, socket_timeout=5)
            )
        )
    except redis_lib.RedisError:
        return None
