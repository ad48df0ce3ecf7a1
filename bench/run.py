#!/usr/bin/env python3
"""`make bench`: the integrator under its production gunicorn configuration, against DIGIT's
latency, on one machine. Prints a table and writes bench/results/latest.json.

    .venv/bin/python bench/run.py [--duration 15] [--drain-backlog 5000] [--skip-drain]

What runs (all on 127.0.0.1, every process started here and stopped at the end):
  * a private PostgreSQL cluster (integrator.localpg: durable, fsync on, as production; no
    standby), database `integrator`, migrated when `integrator db upgrade` exists;
  * a private redis-server (durable: appendonly, appendfsync always, noeviction, as production);
  * the DIGIT sandbox in lean mode (`integrator sandbox --lean`): precomputed read answers after a
    non-blocking latency, so the upstream is not the bottleneck;
  * the integrator: `gunicorn -c config/gunicorn.conf.py integrator.wsgi:app` (production config);
  * the bare proxy (bench/bare_proxy.py) under the same gunicorn model;
  * wrk (Debian's package, bench/ensure-tools) as the load generator, 2 threads;
  * for the drain, N `integrator worker` processes.

Measurements:
  1. bills by consumer at 100 connections with 200 ms DIGIT latency: integrator vs straight to
     the sandbox (throughput ratio, p50/p99);
  2. the same with no added latency: integrator vs the bare proxy;
  3. payments end to end (accept + inline register through the API) and the drain of a backlog of
     PENDING payments (already sent once: each needs a search and a create) from the moment DIGIT
     recovers, vs concurrency / (2 x latency) (`--only drain` runs just the drain);
  4. DIGIT logins over the whole run (sandbox counters);
  5. peak RSS (VmHWM) of every web and worker process;
  6. payments accepted per second with DIGIT down (the 202 path: each bill vouched for by its
     snapshot) at 100 connections, next to a bare loop that inserts one row per request and
     commits (bench/bare_ledger.py) on the same PostgreSQL, concurrency and pool, in the same run:
     the cost of the ledger's durable commits on this disk;
  7. the hard answer budget: at 3 s and 8 s DIGIT latency, payments (concurrent, each a bill of
     its own) and bills by consumer (sequential, then concurrent): the MAX answer time against
     REGISTRATION_BUDGET_SECONDS + 1 s and BILLS_DEADLINE_SECONDS (`--only budget` runs just it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis as redis_lib
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrator.localpg import PrivateCluster, reachable_dir  # noqa: E402
from integrator.settings import LOCAL_PG_DATABASE  # noqa: E402
from integrator.store.db import Database  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PYTHON = sys.executable

TENANT = "pb.amritsar"
# Seed consumers with something due (`integrator sandbox --list`), all in pb.amritsar.
FETCH_TARGETS = [
    (TENANT, "WS", "WS/107/2019-20/000022"),
    (TENANT, "SW", "SW/107/2019-20/000011"),
    (TENANT, "PT", "PT-107-000123"),
    (TENANT, "WS", "WS/107/2019-20/000023"),
    (TENANT, "TL", "PB-TL-2024-07-04-002271"),
    (TENANT, "PT", "PT-107-000124"),
    (TENANT, "SW", "SW/107/2019-20/000012"),
    (TENANT, "WS", "WS/107/2020-21/000031"),
    (TENANT, "WS", "WS/107/2020-21/000032"),
]
TARGETS = {
    "direct_throughput_ratio": 0.93,
    "p99_ratio_max": 1.3,
    "bare_proxy_ratio": 0.75,
    "drain_ratio": 0.8,
    "logins": 1,
    "rss_mb_max": 120,
    "accept_outage_ratio": 0.5,
    "counter_p50_ratio_max": 1.3,
    "budget_latencies_ms": [3000, 8000],
    "budget_payments_margin_s": 1.0,
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Any, *, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}: {last!r}")


# --- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


@dataclass
class Fleet:
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> Proc:
        log_path = self.workdir / f"{name}.log"
        handle = log_path.open("wb")
        popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            proc.stop()
        self.procs.clear()


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return sorted(found)


def proc_status(pid: int, field_name: str) -> int | None:
    """A kB field (VmHWM, VmRSS) of /proc/<pid>/status, in kB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return None


class RssWatch:
    """Peak RSS (VmHWM) per process: gunicorn workers and RQ workers (and their work horses)."""

    def __init__(self) -> None:
        self.peak_kb: dict[str, int] = {}

    def sample(self, label: str, pid: int) -> None:
        hwm = proc_status(pid, "VmHWM")
        if hwm is not None:
            self.peak_kb[label] = max(self.peak_kb.get(label, 0), hwm)

    def sample_gunicorn(self, label: str, master: Proc) -> None:
        self.sample(f"{label} master", master.pid)
        for i, pid in enumerate(children(master.pid)):
            self.sample(f"{label} worker {i + 1}", pid)

    def sample_rq(self, workers: list[Proc]) -> None:
        for i, proc in enumerate(workers):
            self.sample(f"rq worker {i + 1}", proc.pid)
            for pid in children(proc.pid):
                self.sample(f"rq worker {i + 1} work horse", pid)

    def megabytes(self) -> dict[str, float]:
        return {k: round(v / 1024, 1) for k, v in sorted(self.peak_kb.items())}


# --- machine ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("\n")[0].strip(),
        "taskset": "none (all processes share all cores)",
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


# --- load -------------------------------------------------------------------------------------


def wrk(
    url: str, *, connections: int, duration: int, mode: str, keys: list[str], threads: int = 2
) -> dict[str, Any]:
    env = dict(os.environ)
    env["BENCH_MODE"] = mode
    env["BENCH_KEYS"] = ",".join(keys)
    env["BENCH_TARGETS"] = ";".join("|".join(t) for t in FETCH_TARGETS)
    args = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "lua" / "fetch.lua"),
        url,
    ]
    out = subprocess.run(
        args, capture_output=True, text=True, env=env, check=False, timeout=duration + 60
    )
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if match is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in raw if k.startswith("errors_"))
    return {
        "requests": raw["requests"],
        "errors": errors,
        "errors_detail": {k[7:]: raw[k] for k in raw if k.startswith("errors_") and raw[k]},
        "rps": round(raw["requests"] / seconds, 1),
        "ok_rps": round((raw["requests"] - raw["errors_status"]) / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "seconds": round(seconds, 2),
        "connections": connections,
    }


class Sandbox:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def faults(self, **values: Any) -> dict[str, Any]:
        answer = self.http.post(f"{self.base}/_sandbox/faults", json=values, timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def counters(self) -> dict[str, int]:
        answer = self.http.get(f"{self.base}/_sandbox/counters", timeout=5)
        answer.raise_for_status()
        return {k: int(v) for k, v in answer.json().items()}


# --- the bench --------------------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    fleet: Fleet
    env: dict[str, str]
    sandbox: Sandbox
    redis: redis_lib.Redis
    db: Database
    database_url: str
    web_url: str
    bare_url: str
    web: Proc
    bare: Proc
    rss: RssWatch
    keys: list[str]
    sandbox_proc: Proc | None = None
    postgres_pid: int | None = None  # the postmaster: its backends do the ledger's work
    redis_pid: int | None = None


def base_env(
    *, redis_url: str, database_url: str, sandbox_url: str, port: int, workdir: Path
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DIGIT_", "REDIS_", "WEB_", "DATABASE_", "PG"))
    }
    env.update(
        {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "DIGIT_BASE_URL": sandbox_url,
            "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
            "DIGIT_PASSWORD": "sandbox-password",
            "DIGIT_TENANT_ID": TENANT,
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": secrets.token_hex(16),
            # 100 devices hammering as fast as they can: the limiter still runs, but must not refuse
            "DEVICE_RATE_LIMIT_PER_MINUTE": "100000000",
            "VAR_DIR": str(workdir / "var"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def start_postgres(workdir: Path) -> PrivateCluster:
    """A private PostgreSQL cluster, durable as production's (fsync, synchronous_commit on)."""
    cluster = PrivateCluster(reachable_dir(workdir / "postgres"), free_port(), name="bench")
    cluster.init()
    cluster.start()
    cluster.ensure_database(LOCAL_PG_DATABASE)
    return cluster


def migrate(env: dict[str, str]) -> None:
    """`integrator db upgrade`, when this version of the integrator has that command."""
    probe = [PYTHON, "-m", "integrator.cli", "db", "--help"]
    if subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0:
        subprocess.run([PYTHON, "-m", "integrator.cli", "db", "upgrade"], env=env, check=True)


def start_redis(fleet: Fleet, workdir: Path) -> tuple[str, Proc]:
    port = free_port()
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = fleet.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
        ],
    )
    client = redis_lib.Redis(port=port)
    wait_until(client.ping, what="redis")
    return f"redis://127.0.0.1:{port}/0", proc


def add_devices(env: dict[str, str], count: int) -> list[str]:
    """`count` device keys for pb.amritsar, written straight to the store (the CLI's path)."""
    from integrator.settings import Settings
    from integrator.store.db import Database
    from integrator.store.devices import DeviceStore

    settings = Settings.from_env(env, dotenv=False)
    client = redis_lib.Redis.from_url(settings.redis_url)
    db = Database.connect(settings.database_url, max_size=1)
    store = DeviceStore(db, client, clock=lambda: datetime.now(UTC))
    keys = []
    for i in range(count):
        _, key = store.add(f"bench-{i:03d}-{secrets.token_hex(3)}", [TENANT])
        keys.append(key)
    db.close()
    client.close()
    return keys


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs of one target as one: throughput over all of them, the mean of their
    percentiles, and every run as measured."""
    seconds = sum(r["seconds"] for r in runs)
    requests_ = sum(r["requests"] for r in runs)
    ok = sum(r["ok_rps"] * r["seconds"] for r in runs)
    out: dict[str, Any] = {
        "requests": requests_,
        "errors": sum(r["errors"] for r in runs),
        "rps": round(requests_ / seconds, 1),
        "ok_rps": round(ok / seconds, 1),
        "seconds": round(seconds, 2),
        "connections": runs[0]["connections"],
    }
    for key in ("p50_ms", "p90_ms", "p99_ms"):
        out[key] = round(sum(r[key] for r in runs) / len(runs), 1)
    out["max_ms"] = max(r["max_ms"] for r in runs)
    out["sandbox_fetchbill_calls"] = sum(r.get("sandbox_fetchbill_calls", 0) for r in runs)
    out["runs"] = runs
    return out


def side_by_side(
    ctx: Context, targets: dict[str, tuple[str, str, list[str]]]
) -> dict[str, dict[str, Any]]:
    """Each of the two targets measured `--rounds` times, alternating A B B A ... so that a drift
    of the machine during the run (other tenants, CPU frequency) weighs on both alike; combined."""
    args = ctx.args
    names = list(targets)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for name in names:  # warm: connections, pools, MDMS and token memos
        url, mode, keys = targets[name]
        wrk(url, connections=args.connections, duration=3, mode=mode, keys=keys)
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            url, mode, keys = targets[name]
            before = ctx.sandbox.counters().get("fetchbill", 0)
            run = wrk(
                url, connections=args.connections, duration=args.duration, mode=mode, keys=keys
            )
            run["sandbox_fetchbill_calls"] = ctx.sandbox.counters().get("fetchbill", 0) - before
            runs[name].append(run)
    return {name: combined(found) for name, found in runs.items()}


def _round_ratios(side: dict[str, Any], reference: dict[str, Any], key: str) -> list[float]:
    return [
        round(a[key] / b[key], 3) if b[key] else 0.0
        for a, b in zip(side["runs"], reference["runs"], strict=True)
    ]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return round((ordered[middle - 1] + ordered[middle]) / 2, 3)


def measure_fetch(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    results: dict[str, Any] = {}
    sandbox_url = ctx.sandbox.base
    # (1) 200 ms: straight to the sandbox and through the integrator
    ctx.sandbox.faults(latency_ms=args.latency_ms, down=False)
    log(
        f"(1) {args.connections} connections, {args.latency_ms} ms DIGIT latency, "
        f"{args.rounds} rounds"
    )
    found = side_by_side(
        ctx,
        {
            "direct": (sandbox_url, "direct", []),
            "integrator": (ctx.web_url, "integrator", ctx.keys),
            # a reference, not a target: what the web stack alone (gunicorn, Flask, requests:
            # one route, one upstream call) reaches against DIGIT's own rate on these cores
            "bare_proxy": (ctx.bare_url, "integrator", []),
        },
    )
    direct, through = found["direct"], found["integrator"]
    ctx.rss.sample_gunicorn("web", ctx.web)
    log(f"    direct: {direct['rps']} rps p50 {direct['p50_ms']} p99 {direct['p99_ms']}")
    log(
        f"    integrator: {through['rps']} rps p50 {through['p50_ms']} p99 {through['p99_ms']}"
        f" errors {through['errors']}"
    )
    reached = through["sandbox_fetchbill_calls"]  # counted by the sandbox around each run
    results["latency"] = {
        "latency_ms": args.latency_ms,
        "direct": direct,
        "integrator": through,
        "throughput_ratio": round(through["ok_rps"] / direct["ok_rps"], 3),
        "p99_ratio": round(through["p99_ms"] / direct["p99_ms"], 3),
        # the verdict's figures: the median over rounds (each round: both sides, back to back)
        "round_throughput_ratios": _round_ratios(through, direct, "ok_rps"),
        "round_p99_ratios": _round_ratios(through, direct, "p99_ms"),
        "sandbox_fetchbill_calls": reached,
        "every_fetch_reached_digit": reached >= through["requests"] - through["errors"],
        "bare_proxy": found["bare_proxy"],
        "bare_proxy_vs_direct": round(found["bare_proxy"]["ok_rps"] / direct["ok_rps"], 3),
        "round_bare_proxy_vs_direct": _round_ratios(found["bare_proxy"], direct, "ok_rps"),
        "bare_proxy_p99_vs_direct": round(found["bare_proxy"]["p99_ms"] / direct["p99_ms"], 3),
    }
    # (2) no latency: integrator vs the bare proxy (and, for reference, the sandbox itself)
    ctx.sandbox.faults(latency_ms=0)
    log(f"(2) {args.connections} connections, no added latency, {args.rounds} rounds")
    direct0 = wrk(
        sandbox_url, connections=args.connections, duration=args.duration, mode="direct", keys=[]
    )
    found = side_by_side(
        ctx,
        {
            "bare_proxy": (ctx.bare_url, "integrator", []),
            "integrator": (ctx.web_url, "integrator", ctx.keys),
        },
    )
    bare, through0 = found["bare_proxy"], found["integrator"]
    ctx.rss.sample_gunicorn("bare proxy", ctx.bare)
    ctx.rss.sample_gunicorn("web", ctx.web)
    log(f"    bare proxy: {bare['rps']} rps p99 {bare['p99_ms']}")
    log(
        f"    integrator: {through0['rps']} rps p99 {through0['p99_ms']}"
        f" errors {through0['errors']}"
    )
    reached = through0["sandbox_fetchbill_calls"]
    results["no_latency"] = {
        "direct": direct0,
        "bare_proxy": bare,
        "integrator": through0,
        "bare_proxy_ratio": round(through0["ok_rps"] / bare["ok_rps"], 3),
        "round_bare_proxy_ratios": _round_ratios(through0, bare, "ok_rps"),
        "sandbox_fetchbill_calls": reached,
        "every_fetch_reached_digit": reached >= through0["requests"] - through0["errors"],
    }
    return results


COUNTER_PREFIX = "ctr"
COUNTER_DEVICES = 20


def _timed_posts(
    jobs: list[tuple[str, dict[str, str], bytes]], *, threads: int
) -> tuple[list[float], dict[str, int]]:
    """POST every (url, headers, body) from `threads` clients at once (one session each, keep-
    alive as a device would); each call's milliseconds and the count of each answer."""
    timings: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    chunks = [jobs[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads)

    def client(chunk: list[tuple[str, dict[str, str], bytes]]) -> None:
        session = requests.Session()
        barrier.wait()
        for url, headers, body in chunk:
            started = time.perf_counter()
            answer = session.post(url, data=body, headers=headers, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            try:
                status = str(answer.json().get("status", ""))
            except ValueError:
                status = ""
            label = f"{answer.status_code} {status}".strip()
            with lock:
                timings.append(elapsed)
                statuses[label] = statuses.get(label, 0) + 1

    workers = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(timings), statuses


def _posts_summary(
    jobs: list[tuple[str, dict[str, str], bytes]], *, threads: int
) -> dict[str, Any]:
    """`_timed_posts` as p50, p99, the count of each answer and how many."""
    timings, statuses = _timed_posts(jobs, threads=threads)
    return {
        "p50_ms": _percentile(timings, 0.5),
        "p99_ms": _percentile(timings, 0.99),
        "answers": statuses,
        "count": len(timings),
    }


def _percentile(timings: list[float], fraction: float) -> float | None:
    if not timings:
        return None
    return round(timings[min(len(timings) - 1, int(len(timings) * fraction))], 1)


def measure_counter_payments(
    ctx: Context, *, per_device: int = 15, rounds: int = 2
) -> dict[str, Any]:
    """(3a) a payment at the counter: 20 devices at once each pay bills served to them moments
    ago (snapshots as GET /v1/bills leaves them), DIGIT up at the bench latency; side by side
    with the same 20 clients sending `payments/_create` straight to the sandbox (DIGIT's own
    create latency). Rounds alternate A B B A on fresh bills; the verdict uses the median ratio."""
    latency = ctx.args.latency_ms
    ctx.sandbox.faults(latency_ms=latency, down=False)
    devices = COUNTER_DEVICES
    log(f"(3a) payments at the counter, {devices} devices at once, {latency} ms DIGIT")
    create_url = f"{ctx.sandbox.base}/collection-services/payments/_create"
    json_headers = {"Content-Type": "application/json"}
    runs: dict[str, list[dict[str, Any]]] = {"direct_create": [], "integrator": []}

    def direct(tag: str) -> dict[str, Any]:
        jobs = [
            (
                create_url,
                json_headers,
                json.dumps(
                    {
                        "RequestInfo": {"authToken": "bench"},
                        "Payment": {
                            "tenantId": TENANT,
                            "paymentMode": "CASH",
                            "totalAmountPaid": 100,
                            "paidBy": "Bench Payer",
                            "paymentDetails": [
                                {
                                    "billId": f"{COUNTER_PREFIX}-direct-{tag}-{d}-{n}",
                                    "businessService": "WS",
                                    "totalAmountPaid": 100,
                                }
                            ],
                        },
                    }
                ).encode(),
            )
            for d in range(devices)
            for n in range(per_device)
        ]
        return _posts_summary(jobs, threads=devices)

    def through(tag: str) -> dict[str, Any]:
        prefix = f"{COUNTER_PREFIX}-{tag}"
        seed_served_bills(ctx, per_thread=per_device, threads=devices, prefix=prefix)
        jobs = [
            (
                f"{ctx.web_url}/v1/payments",
                {
                    "Authorization": f"Bearer {ctx.keys[d % len(ctx.keys)]}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": secrets.token_hex(12),
                },
                json.dumps(
                    {
                        "tenantId": TENANT,
                        "paymentMode": "CASH",
                        "paidBy": "Bench Payer",
                        "payerName": "Bench Payer",
                        "bills": [{"billId": f"{prefix}-{d + 1}-{n}", "amount": 100}],
                    }
                ).encode(),
            )
            for d in range(devices)
            for n in range(1, per_device + 1)
        ]
        return _posts_summary(jobs, threads=devices)

    through("warm")  # first logins, MDMS and pools warmed; not counted
    order = ["direct_create", "integrator", "integrator", "direct_create"] * (rounds // 2 or 1)
    for i, side in enumerate(order):
        runs[side].append((direct if side == "direct_create" else through)(f"r{i}"))
    ratios = sorted(
        (i["p50_ms"] or 0) / d["p50_ms"]
        for d, i in zip(runs["direct_create"], runs["integrator"], strict=True)
        if d["p50_ms"]
    )
    return {
        "latency_ms": latency,
        "devices": devices,
        "per_device": per_device,
        "rounds": runs,
        "round_ratios": [round(r, 3) for r in ratios],
        "p50_ratio": round(ratios[len(ratios) // 2], 3) if ratios else None,
        "digit_calls_per_payment_note": "a bill served moments ago: payments/_create only",
    }


def _setting(ctx: Context, name: str, default: float) -> float:
    """A budget as the integrator reads it: the run's environment, else the settings default."""
    return float(ctx.env.get(name) or default)


def _timed(call: Any) -> tuple[float, int]:
    """(seconds, status) of one HTTP call; status 0 when the client gave up (60 s)."""
    started = time.perf_counter()
    try:
        status = int(call().status_code)
    except requests.RequestException:
        status = 0
    return time.perf_counter() - started, status


def measure_budget(ctx: Context) -> dict[str, Any]:
    """(7) The hard answer budget: whatever DIGIT's latency, POST /v1/payments answers within
    REGISTRATION_BUDGET_SECONDS + 1 s and GET /v1/bills within BILLS_DEADLINE_SECONDS. What
    counts is the MAX over every request, not a percentile. Each latency pays fresh seed bills
    (their consumers' current bills, fetched while DIGIT is quick), all at once. In the full run
    (3a) has paid those bills already, so there the answers are refusals, reached through the
    same DIGIT checks; `--only budget` pays them for the first time."""
    from concurrent.futures import ThreadPoolExecutor

    pay_budget = _setting(ctx, "REGISTRATION_BUDGET_SECONDS", 5.0)
    bills_budget = _setting(ctx, "BILLS_DEADLINE_SECONDS", 8.0)
    latencies = TARGETS["budget_latencies_ms"]
    per_round = len(FETCH_TARGETS) // len(latencies)
    headers = {"Authorization": f"Bearer {ctx.keys[0]}"}

    def get_bills(target: tuple[str, str, str]) -> requests.Response:
        tenant, service, code = target
        return requests.get(
            f"{ctx.web_url}/v1/bills",
            headers=headers,
            timeout=60,
            params={"tenantId": tenant, "businessService": service, "consumerCode": code},
        )

    ctx.sandbox.faults(latency_ms=0, down=False)
    served: list[tuple[str, Any]] = []  # (billId, amount), read while DIGIT is quick
    for target in FETCH_TARGETS:
        for offer in get_bills(target).json().get("bills", []):
            served.append((offer["billId"], offer["totalAmount"]))
    rounds = []
    for n, latency in enumerate(latencies):
        ctx.sandbox.faults(latency_ms=latency, down=False)
        mine = served[n * per_round : (n + 1) * per_round]

        def pay(bill: tuple[str, Any]) -> requests.Response:
            body = {
                "tenantId": TENANT,
                "paymentMode": "CASH",
                "paidBy": "OWNER",
                "payerName": "Bench Payer",
                "mobileNumber": "9876543210",
                "bills": [{"billId": bill[0], "amount": bill[1]}],
            }
            return requests.post(
                f"{ctx.web_url}/v1/payments",
                data=json.dumps(body),
                timeout=60,
                headers={
                    **headers,
                    "Idempotency-Key": secrets.token_hex(12),
                    "Content-Type": "application/json",
                },
            )

        with ThreadPoolExecutor(max_workers=max(len(mine), len(FETCH_TARGETS))) as pool:
            payments = list(pool.map(lambda b: _timed(functools.partial(pay, b)), mine))
            sequential = [_timed(functools.partial(get_bills, t)) for t in FETCH_TARGETS[:3]]
            concurrent = list(
                pool.map(lambda t: _timed(functools.partial(get_bills, t)), FETCH_TARGETS)
            )
        bills = sequential + concurrent

        def summary(timed: list[tuple[float, int]]) -> dict[str, Any]:
            statuses: dict[str, int] = {}
            for _, status in timed:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            return {
                "requests": len(timed),
                "max_s": round(max(t for t, _ in timed), 2),
                "statuses": statuses,
            }

        pay_row, bills_row = summary(payments), summary(bills)
        pay_row["met"] = pay_row["max_s"] <= pay_budget + TARGETS["budget_payments_margin_s"]
        pay_row["met"] = pay_row["met"] and all(s in (201, 202, 409, 422, 503) for _, s in payments)
        bills_row["met"] = bills_row["max_s"] <= bills_budget
        rounds.append({"latency_ms": latency, "payments": pay_row, "bills": bills_row})
    ctx.sandbox.faults(latency_ms=0)
    return {
        "registration_budget_s": pay_budget,
        "bills_budget_s": bills_budget,
        "rounds": rounds,
    }


ACCEPT_PREFIX = "acc"


def seed_served_bills(
    ctx: Context, per_thread: int, threads: int = 2, prefix: str = ACCEPT_PREFIX
) -> None:
    """Bills `<prefix>-<thread>-<n>` as GET /v1/bills would have served them (their snapshots),
    each of its own consumer, so every request of the accept run is a new payment."""
    from integrator.digit.models import Bill, BillDetail
    from integrator.store.snapshots import SnapshotStore

    snapshots = SnapshotStore(ctx.redis, retention_seconds=86400)
    now = datetime.now(UTC)
    expiry = now + timedelta(days=30)
    for thread in range(1, threads + 1):
        bills = [
            Bill(
                id=f"{prefix}-{thread}-{n}",
                bill_number=f"{prefix.upper()}/{thread}/{n}",
                tenant_id=TENANT,
                business_service="WS",
                consumer_code=f"{prefix.upper()}/{thread}/{n:06d}",
                status="ACTIVE",
                total_amount=Decimal(100),
                bill_date=now,
                details=(
                    BillDetail(
                        id=f"d-{thread}-{n}",
                        demand_id=None,
                        from_period=now - timedelta(days=30),
                        to_period=now,
                        expiry_date=expiry,
                        amount=Decimal(100),
                    ),
                ),
            )
            for n in range(1, per_thread + 1)
        ]
        pipe = ctx.redis.pipeline(transaction=False)
        for key, doc in snapshots.documents(bills, now):
            pipe.set(key, doc, px=snapshots.retention_ms)
        pipe.execute()


def wrk_accept(
    url: str, *, keys: list[str], duration: int, connections: int, prefix: str = ACCEPT_PREFIX
) -> dict[str, Any]:
    env = dict(os.environ, BENCH_KEYS=",".join(keys), BENCH_PREFIX=prefix)
    env["BENCH_TENANT"] = TENANT
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "lua" / "accept.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=duration + 60,
    )
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if match is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "non_2xx": raw["errors_status"],
        "ok_rps": round((raw["requests"] - raw["errors_status"]) / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
    }


def measure_accept_outage(ctx: Context, *, rounds: int = 1) -> dict[str, Any]:
    """(6) the 202 path with DIGIT down vs one durable commit per request.

    With `rounds` > 1 (`--only accept`), the two sides alternate A B B A ..., each integrator run on
    bills of its own, and the ratio is the mean of the rounds' ratios; `--py-spy FILE` records one
    web worker during the first integrator run."""
    args = ctx.args
    duration = max(5, args.duration)
    prefixes = [ACCEPT_PREFIX if r == 0 else f"{ACCEPT_PREFIX}{r}" for r in range(rounds)]
    for prefix in prefixes:
        seed_served_bills(ctx, per_thread=600 * duration, prefix=prefix)
    ctx.sandbox.faults(latency_ms=0, down=True)
    log(f"(6) payments accepted with DIGIT down vs a bare commit loop, {args.connections} conns")
    bare_port = free_port()
    bare_env = dict(ctx.env, PORT=str(bare_port))
    bare = ctx.fleet.start(
        "bare-ledger",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "-c",
            str(BENCH / "bare_gunicorn.conf.py"),
            "--chdir",
            str(BENCH),
            "bare_ledger:app",
        ],
        env=bare_env,
    )
    bare_url = f"http://127.0.0.1:{bare_port}"
    wait_until(
        lambda: requests.post(f"{bare_url}/v1/payments", data=b"{}", timeout=2).ok,
        timeout=60,
        what=f"bare ledger loop (see {bare.log_path})",
    )

    def integrator_run(prefix: str) -> dict[str, Any]:
        profile = getattr(args, "py_spy", None) if prefix == prefixes[0] else None
        before, creates = cpu_seconds(ctx.web), ctx.sandbox.counters().get("payment_create", 0)
        servers = _server_cpu(ctx)
        with py_spy_record(ctx.web, profile, duration):
            found = wrk_accept(
                ctx.web_url,
                keys=ctx.keys,
                duration=duration,
                connections=args.connections,
                prefix=prefix,
            )
        # how many payments tried DIGIT (down) before going to the worker: the outage hold's
        # probes, and whatever was in flight when DIGIT was first found down
        found["digit_creates_tried"] = ctx.sandbox.counters().get("payment_create", 0) - creates
        return _with_server_cpu(with_cpu(found, cpu_seconds(ctx.web) - before), ctx, servers)

    def bare_run() -> dict[str, Any]:
        before, servers = cpu_seconds(bare), _server_cpu(ctx)
        found = wrk_accept(bare_url, keys=[], duration=duration, connections=args.connections)
        return _with_server_cpu(with_cpu(found, cpu_seconds(bare) - before), ctx, servers)

    found = []
    try:
        for r, prefix in enumerate(prefixes):
            if r % 2 == 0:
                integrator, floor = integrator_run(prefix), bare_run()
            else:
                floor, integrator = bare_run(), integrator_run(prefix)
            ratio = integrator["ok_rps"] / floor["ok_rps"] if floor["ok_rps"] else 0.0
            found.append(
                {"integrator": integrator, "bare_commit_loop": floor, "ratio": round(ratio, 3)}
            )
            log(f"    round {r + 1}: {found[-1]}")
    finally:
        ctx.fleet.stop(bare)
        ctx.sandbox.faults(down=False)
    result: dict[str, Any] = {
        "connections": args.connections,
        "integrator": found[0]["integrator"],
        "bare_commit_loop": found[0]["bare_commit_loop"],
        "ratio": round(sum(f["ratio"] for f in found) / len(found), 3),
        "pool_size": ctx.env.get("DATABASE_POOL_SIZE", "20"),
    }
    if rounds > 1:
        result["rounds"] = found
    return result


def _server_cpu(ctx: Context) -> tuple[float, float]:
    return tree_cpu_seconds(ctx.postgres_pid), tree_cpu_seconds(ctx.redis_pid)


def _with_server_cpu(
    found: dict[str, Any], ctx: Context, before: tuple[float, float]
) -> dict[str, Any]:
    """`found` with what PostgreSQL and Redis spent per accepted request meanwhile: on a
    saturated machine the rate follows the CPU all processes spend per request, not only the
    web workers'."""
    ok = found["requests"] - found.get("non_2xx", 0)
    if not ok:
        return found
    pg, redis = (after - start for after, start in zip(_server_cpu(ctx), before, strict=True))
    per_ok = {
        "postgres_cpu_ms_per_ok": round(1000 * pg / ok, 2),
        "redis_cpu_ms_per_ok": round(1000 * redis / ok, 2),
    }
    total = found["worker_cpu_ms_per_ok"] + sum(per_ok.values())
    return {**found, **per_ok, "cpu_ms_per_ok": round(total, 2)}


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of `pid` and its descendants so far, those reaped included
    (0 without a pid): what PostgreSQL's backends or redis-server spend."""
    if pid is None:
        return 0.0
    ticks = 0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    seconds = ticks / os.sysconf("SC_CLK_TCK")
    return seconds + sum(tree_cpu_seconds(child) for child in children(pid))


def cpu_seconds(master: Proc) -> float:
    """User + system CPU seconds used so far by the gunicorn workers of `master`."""
    ticks = 0
    for pid in children(master.pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu(proc: Proc | None) -> float:
    """User + system CPU seconds used so far by `proc` itself (0 without one)."""
    if proc is None:
        return 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def with_cpu(found: dict[str, Any], seconds: float) -> dict[str, Any]:
    """`found` with the web workers' CPU per request: a cost the machine's other load does not
    change much, unlike the rate."""
    ok = found["requests"] - found.get("non_2xx", found.get("errors", 0))
    return {**found, "worker_cpu_ms_per_ok": round(1000 * seconds / ok, 2) if ok else None}


@contextlib.contextmanager
def py_spy_record(web: Proc, out: Path | None, duration: int) -> Iterator[None]:
    """`py-spy record` of the first gunicorn worker of `web` for `duration` s, into `out` (a
    flame graph .svg, or speedscope .json / collapsed .txt by its suffix); nothing without out."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    workers = children(web.pid)
    if out is None or not workers or not Path(spy).exists():
        if out is not None:
            log(f"    no profile: py-spy at {spy}? workers {workers}")
        yield
        return
    fmt = {".json": "speedscope", ".txt": "raw"}.get(out.suffix, "flamegraph")
    cmd = [spy, "record", "--nonblocking", "-r", "200", "-d", str(duration), "-f", fmt]
    cmd += ["-o", str(out), "-p", str(workers[0])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.wait(timeout=duration + 60)
        log(f"    profile of web worker {workers[0]}: {out}")


def make_backlog(ctx: Context, count: int) -> list[str]:
    """`count` PENDING payments whose create was already sent once (an outage interrupted it):
    each needs a payment search, then a create. Stored with PaymentStore.create, as the API does."""
    from integrator.payments import states
    from integrator.payments.models import HistoryEntry, Payment, PaymentBill, PaymentStatus
    from integrator.store.open_claims import OpenClaimMarks
    from integrator.store.payments import CreateOutcome, PaymentStore

    # with the marks, as the services build it: GET /v1/bills must see these as open
    store = PaymentStore(ctx.db, claim_marks=OpenClaimMarks(ctx.redis))
    now = datetime.now(UTC)
    ids = []
    for i in range(count):
        bill_id = f"bench-bill-{i:06d}-{secrets.token_hex(4)}"
        payment_id = "pay_" + secrets.token_hex(12)
        payment = Payment(
            id=payment_id,
            device_id="bench-drain",
            idempotency_key=f"drain-{i}",
            fingerprint=secrets.token_hex(8),
            status=PaymentStatus.PENDING,
            tenant_id=TENANT,
            payment_mode="CASH",
            paid_by="OWNER",
            payer_name="Backlog Payer",
            mobile_number="9876543210",
            instrument_number=None,
            instrument_date=None,
            transaction_number=None,
            collected_at=now,
            bills=(
                PaymentBill(
                    bill_id=bill_id,
                    bill_number=f"BN-{i}",
                    consumer_code=f"BENCH/{i:06d}",
                    business_service="WS",
                    amount=Decimal("100"),
                    total_due=Decimal("100"),
                ),
            ),
            created_at=now,
            history=(
                HistoryEntry(
                    at=now,
                    actor="bench",
                    event="accepted",
                    to_status=PaymentStatus.PENDING,
                    reason="checked",
                ),
            ),
        )
        payment = states.mark_create_sent(payment, payment.bill_ids, actor="bench", at=now)
        created = store.create(payment)
        if created.outcome is not CreateOutcome.CREATED:
            raise RuntimeError(f"backlog payment {i} not created: {created}")
        ids.append(payment_id)
    return ids


def measure_drain(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    jobs_dir = ROOT / "integrator" / "jobs"
    if not (jobs_dir / "scheduling.py").exists():
        return {"skipped": "integrator/jobs (the RQ worker) is not there yet"}
    from integrator.jobs.scheduling import RqRegistrationScheduler
    from integrator.payments.models import PaymentStatus
    from integrator.settings import Settings
    from integrator.store.payments import PaymentStore

    settings = Settings.from_env(ctx.env, dotenv=False)
    ctx.sandbox.faults(latency_ms=args.drain_latency_ms, down=True)
    log(f"(3) drain: DIGIT down; storing {args.drain_backlog} PENDING payments")
    ids = make_backlog(ctx, args.drain_backlog)
    worker_env = dict(ctx.env)
    worker_env["DIGIT_PROBE_SECONDS"] = "1"
    workers = [
        ctx.fleet.start(
            f"worker-{i + 1}", [PYTHON, "-m", "integrator.cli", "worker"], env=worker_env
        )
        for i in range(args.drain_workers)
    ]
    time.sleep(3.0)  # let them start (imports, Redis check) before DIGIT recovers
    for proc in workers:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: see {proc.log_path}")
    scheduler = RqRegistrationScheduler(redis=ctx.redis, settings=settings)
    store = PaymentStore(ctx.db)
    limit = args.drain_workers / (2 * args.drain_latency_ms / 1000)
    # earlier rows leave REGISTERED payments of their own: count only what this drain adds
    already = store.count_by_status().get(PaymentStatus.REGISTERED, 0)
    ctx.sandbox.faults(down=False)
    started = time.monotonic()
    log(
        f"    DIGIT recovered; releasing {len(ids)} payments to {len(workers)} workers "
        f"(limit {limit:.1f}/s)"
    )
    for payment_id in ids:
        scheduler.schedule(payment_id, delay_seconds=0)
    enqueue_seconds = time.monotonic() - started
    deadline = started + args.drain_timeout
    registered = 0
    while time.monotonic() < deadline:
        counts = store.count_by_status()
        registered = counts.get(PaymentStatus.REGISTERED, 0) - already
        ctx.rss.sample_rq(workers)
        if counts.get(PaymentStatus.PENDING, 0) == 0:
            break
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    counts = {k.value: v for k, v in store.count_by_status().items()}
    ctx.rss.sample_rq(workers)
    for proc in workers:
        ctx.fleet.stop(proc)
    rate = registered / elapsed if elapsed else 0.0
    sandbox_counters = ctx.sandbox.counters()
    return {
        "backlog": len(ids),
        "workers": len(workers),
        "latency_ms": args.drain_latency_ms,
        "limit_per_s": round(limit, 2),
        "limit_seconds": round(len(ids) / limit, 1),
        "drain_seconds": round(elapsed, 2),
        "enqueue_seconds": round(enqueue_seconds, 2),
        "registered_per_s": round(rate, 2),
        "ratio": round(rate / limit, 3),
        "registered_before": already,
        "statuses": counts,
        "completed": counts.get("PENDING", 0) == 0,
        "sandbox_payment_creates": sandbox_counters.get("payment_create", 0),
    }


def _bare_reference(lat: dict[str, Any]) -> str:
    """Row 1's reference: the bare Flask + requests proxy at the same latency (older runs have
    none)."""
    bare = lat.get("bare_proxy")
    if not bare:
        return ""
    return (
        f" (bare Flask + requests proxy: {bare['ok_rps']:.0f}/s, "
        f"{lat['bare_proxy_vs_direct']:.2f}x direct, p99 {bare['p99_ms']} ms)"
    )


def table(result: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    m = result["measurements"]
    lat = m.get("latency")
    if lat:
        d, i = lat["direct"], lat["integrator"]
        rows.append(
            (
                f"1. bills, {lat['latency_ms']} ms DIGIT, {d['connections']} conns",
                f"{i['ok_rps']:.0f}/s vs direct {d['ok_rps']:.0f}/s; p50 {i['p50_ms']} vs "
                f"{d['p50_ms']} ms; p99 {i['p99_ms']} vs {d['p99_ms']} ms" + _bare_reference(lat),
                f"{lat['throughput_ratio']:.2f}x, p99 {lat['p99_ratio']:.2f}x",
                ">= 0.93x, p99 <= 1.3x (median round)",
            )
        )
    nol = m.get("no_latency")
    if nol:
        i, b = nol["integrator"], nol["bare_proxy"]
        rows.append(
            (
                "2. bills, no added latency",
                f"{i['ok_rps']:.0f}/s (p99 {i['p99_ms']} ms) vs bare proxy "
                f"{b['ok_rps']:.0f}/s; sandbox alone {nol['direct']['ok_rps']:.0f}/s",
                f"{nol['bare_proxy_ratio']:.2f}x",
                ">= 0.75x (median round)",
            )
        )
    ctr = m.get("counter_payments")
    if ctr:
        last_d, last_i = ctr["rounds"]["direct_create"][-1], ctr["rounds"]["integrator"][-1]
        rows.append(
            (
                f"3a. payment to receipt, {ctr['devices']} devices, {ctr['latency_ms']} ms DIGIT",
                f"p50 {last_i['p50_ms']} ms ({last_i['answers']}) vs DIGIT's create alone "
                f"p50 {last_d['p50_ms']} ms; rounds {ctr['round_ratios']}",
                f"{ctr['p50_ratio']:.2f}x" if ctr["p50_ratio"] else "-",
                "<= 1.3x, all 201",
            )
        )
    drain = m.get("drain")
    if drain and "skipped" not in drain:
        rows.append(
            (
                f"3b. drain {drain['backlog']}, {drain['workers']} workers, "
                f"{drain['latency_ms']} ms",
                f"{drain['drain_seconds']} s ({drain['registered_per_s']}/s) vs limit "
                f"{drain['limit_seconds']} s ({drain['limit_per_s']}/s)",
                f"{drain['ratio']:.2f}x",
                ">= 0.8x",
            )
        )
    elif drain:
        rows.append(("3b. drain", drain["skipped"], "-", ">= 0.8x"))
    acc = m.get("accept_outage")
    if acc:
        i, b = acc["integrator"], acc["bare_commit_loop"]
        rows.append(
            (
                f"6. payments accepted, DIGIT down, {acc['connections']} conns",
                f"{i['ok_rps']:.0f}/s 202 (p99 {i['p99_ms']} ms, {i['non_2xx']} non-2xx) vs "
                f"bare commit loop {b['ok_rps']:.0f}/s (p99 {b['p99_ms']} ms)",
                f"{acc['ratio']:.2f}x",
                ">= 0.5x",
            )
        )
    rows.extend(budget_rows(m))
    if "logins" not in m:  # `--only budget`
        return _render(rows)
    rows.append(("4. DIGIT logins, whole run", str(m["logins"]), "-", "exactly 1"))
    rss = m["peak_rss_mb"]
    worst = max((v for k, v in rss.items() if "bare" not in k), default=0.0)
    rows.append(
        ("5. peak RSS per process", f"max {worst} MB over {len(rss)} processes", "-", "<= 120 MB")
    )
    return _render(rows)


def budget_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows 7p/7b: the max answer time at each DIGIT latency against its budget."""
    budget = m.get("budget")
    if not budget:
        return []
    rows = []
    for r in budget["rounds"]:
        p, b = r["payments"], r["bills"]
        latency = r["latency_ms"] / 1000
        rows.append(
            (
                f"7p. payments, {latency:g} s DIGIT, {p['requests']} concurrent",
                f"max {p['max_s']} s {p['statuses']} ({'met' if p['met'] else 'MISSED'})",
                "-",
                f"<= {budget['registration_budget_s'] + 1:g} s",
            )
        )
        rows.append(
            (
                f"7b. bills by consumer, {latency:g} s DIGIT, {b['requests']} (seq + conc)",
                f"max {b['max_s']} s {b['statuses']} ({'met' if b['met'] else 'MISSED'})",
                "-",
                f"<= {budget['bills_budget_s']:g} s",
            )
        )
    return rows


def _render(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [
        max(len(r[c]) for r in [("measure", "result", "ratio", "target"), *rows]) for c in range(4)
    ]
    lines = []
    for r in [("measure", "result", "ratio", "target"), *rows]:
        lines.append(" | ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)))
        if len(lines) == 1:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def verdicts(m: dict[str, Any]) -> dict[str, bool | None]:
    lat, nol, drain = m.get("latency"), m.get("no_latency"), m.get("drain") or {}
    rss = [v for k, v in m["peak_rss_mb"].items() if "bare" not in k]
    return {
        "1_throughput": None
        if not lat
        else median(lat["round_throughput_ratios"]) >= TARGETS["direct_throughput_ratio"],
        "1_p99": None if not lat else median(lat["round_p99_ratios"]) <= TARGETS["p99_ratio_max"],
        "1_no_bill_cache": None if not lat else lat["every_fetch_reached_digit"],
        "2_bare_proxy": None
        if not nol
        else median(nol["round_bare_proxy_ratios"]) >= TARGETS["bare_proxy_ratio"],
        "3a_counter_p50": None if not m.get("counter_payments") else _counter_met(m),
        "3_drain": None if "ratio" not in drain else drain["ratio"] >= 0.8,
        "4_one_login": m["logins"] == 1,
        "5_rss": bool(rss) and max(rss) <= 120,
        "6_accept_outage": None
        if not m.get("accept_outage")
        else m["accept_outage"]["ratio"] >= 0.5,
        **budget_verdicts(m),
    }


def _counter_met(m: dict[str, Any]) -> bool:
    ctr = m["counter_payments"]
    every_201 = all(set(r["answers"]) == {"201 REGISTERED"} for r in ctr["rounds"]["integrator"])
    return every_201 and ctr["p50_ratio"] is not None and ctr["p50_ratio"] <= 1.3


def budget_verdicts(m: dict[str, Any]) -> dict[str, bool | None]:
    budget = m.get("budget")
    if not budget:
        return {"7_budget_payments": None, "7_budget_bills": None}
    return {
        "7_budget_payments": all(r["payments"]["met"] for r in budget["rounds"]),
        "7_budget_bills": all(r["bills"]["met"] for r in budget["rounds"]),
    }


@contextlib.contextmanager
def running(args: argparse.Namespace) -> Iterator[Context]:
    workdir = RESULTS / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    fleet = Fleet(workdir)
    postgres: PrivateCluster | None = None
    try:
        postgres = start_postgres(workdir)
        redis_url, redis_proc = start_redis(fleet, workdir)
        sandbox_port = free_port()
        sandbox_proc = fleet.start(
            "sandbox", [PYTHON, "-m", "integrator.sandbox", "--lean", "--port", str(sandbox_port)]
        )
        sandbox = Sandbox(f"http://127.0.0.1:{sandbox_port}")
        wait_until(
            lambda: sandbox.http.get(f"{sandbox.base}/_sandbox/health", timeout=1).ok,
            what="sandbox",
        )
        web_port, bare_port = free_port(), free_port()
        env = base_env(
            redis_url=redis_url,
            database_url=postgres.url(LOCAL_PG_DATABASE),
            sandbox_url=sandbox.base,
            port=web_port,
            workdir=workdir,
        )
        if args.web_workers:
            env["WEB_WORKERS"] = str(args.web_workers)
        env.update(dict(item.split("=", 1) for item in args.env))
        migrate(env)
        web = fleet.start(
            "web",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "config" / "gunicorn.conf.py"),
                "integrator.wsgi:app",
            ],
            env=env,
        )
        bare_env = dict(env, PORT=str(bare_port), BARE_UPSTREAM=sandbox.base)
        bare = fleet.start(
            "bare",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                str(BENCH / "bare_gunicorn.conf.py"),
                "--chdir",
                str(BENCH),
                "bare_proxy:app",
            ],
            env=bare_env,
        )
        web_url, bare_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{bare_port}"
        wait_until(
            lambda: requests.get(f"{web_url}/healthz", timeout=1).ok,
            timeout=60,
            what=f"integrator (see {web.log_path})",
        )
        wait_until(
            lambda: requests.get(f"{bare_url}/v1/bills", timeout=2).status_code,
            timeout=60,
            what=f"bare proxy (see {bare.log_path})",
        )
        keys = add_devices(env, args.connections)
        client = redis_lib.Redis.from_url(redis_url)
        db = Database.connect(env["DATABASE_URL"], max_size=4)
        yield Context(
            args=args,
            fleet=fleet,
            env=env,
            sandbox=sandbox,
            redis=client,
            db=db,
            database_url=env["DATABASE_URL"],
            web_url=web_url,
            bare_url=bare_url,
            web=web,
            bare=bare,
            rss=RssWatch(),
            keys=keys,
            sandbox_proc=sandbox_proc,
            postgres_pid=postgres.postmaster_pid(),
            redis_pid=redis_proc.pid,
        )
    finally:
        fleet.stop_all()
        if postgres is not None:  # last: the web app and workers were its clients
            postgres.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (15)")
    parser.add_argument("--connections", type=int, default=100, help="concurrent devices (100)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each side in (1) and (2), alternating A B B A A B (3: on a shared machine "
        "one noisy round then moves the median round, which the verdict uses, less than the mean)",
    )
    parser.add_argument("--latency-ms", type=int, default=200, help="DIGIT latency for (1) (200)")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=0,
        help="WEB_WORKERS override (default: the production setting)",
    )
    parser.add_argument("--drain-backlog", type=int, default=5000)
    parser.add_argument("--drain-workers", type=int, default=8)
    parser.add_argument("--drain-latency-ms", type=int, default=100)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument(
        "--only",
        choices=["latency", "proxy", "accept", "counter", "drain", "budget", "all"],
        default="all",
        help="latency: only measurement (1); proxy: only (2) (tuning runs); accept: only (6), "
        "--rounds rounds A B B A, written to bench/results/accept.json; counter: only (3a); "
        "drain: only (3b) (e.g. with --drain-backlog 1000), written to "
        "bench/results/drain.json; budget: only (7), written to bench/results/budget.json",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --only accept, latency or proxy: py-spy record one web worker during the "
        "(first) integrator run (.svg flame graph, .json speedscope, .txt collapsed stacks)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the integrator (tuning runs)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        subprocess.run([str(BENCH / "ensure-tools")], check=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    measurements: dict[str, Any] = {}
    with running(args) as ctx:
        if args.only == "latency":
            ctx.sandbox.faults(latency_ms=args.latency_ms)
            direct = wrk(
                ctx.sandbox.base,
                connections=args.connections,
                duration=args.duration,
                mode="direct",
                keys=[],
            )
            wrk(
                ctx.web_url,
                connections=args.connections,
                duration=3,
                mode="integrator",
                keys=ctx.keys,
            )
            with py_spy_record(ctx.web, args.py_spy, args.duration):
                through = wrk(
                    ctx.web_url,
                    connections=args.connections,
                    duration=args.duration,
                    mode="integrator",
                    keys=ctx.keys,
                )
            wrk(ctx.bare_url, connections=args.connections, duration=3, mode="integrator", keys=[])
            bare = wrk(
                ctx.bare_url,
                connections=args.connections,
                duration=args.duration,
                mode="integrator",
                keys=[],
            )
            print(
                json.dumps({"direct": direct, "integrator": through, "bare_proxy": bare}, indent=1)
            )
            return 0
        if args.only == "proxy":
            ctx.sandbox.faults(latency_ms=0)
            found = {}
            for name, url, keys, server in (
                ("bare_proxy", ctx.bare_url, [], ctx.bare),
                ("integrator", ctx.web_url, ctx.keys, ctx.web),
            ):
                wrk(url, connections=args.connections, duration=3, mode="integrator", keys=keys)
                profile = args.py_spy if name == "integrator" else None
                # where the machine's CPU goes per answer: the server's workers, the sandbox
                before = cpu_seconds(server), _own_cpu(ctx.sandbox_proc)
                with py_spy_record(ctx.web, profile, args.duration):
                    found[name] = wrk(
                        url,
                        connections=args.connections,
                        duration=args.duration,
                        mode="integrator",
                        keys=keys,
                    )
                found[name] = with_cpu(found[name], cpu_seconds(server) - before[0])
                ok = max(1, found[name]["requests"] - found[name]["errors"])
                sandbox_ms = 1000 * (_own_cpu(ctx.sandbox_proc) - before[1]) / ok
                found[name]["sandbox_cpu_ms_per_ok"] = round(sandbox_ms, 2)
            found["ratio"] = round(found["integrator"]["ok_rps"] / found["bare_proxy"]["ok_rps"], 3)
            print(json.dumps(found, indent=1))
            return 0
        if args.only == "counter":
            found = {"counter_payments": measure_counter_payments(ctx)}
            print(json.dumps(found, indent=1))
            _write_alone("counter", found)
            return 0
        if args.only == "accept":
            # the full run's earlier measurements log the integrator in and teach it its roles
            # while DIGIT is up: do the same, or every payment of a cold worker tries DIGIT first
            ctx.sandbox.faults(latency_ms=0)
            wrk(
                ctx.web_url,
                connections=args.connections,
                duration=3,
                mode="integrator",
                keys=ctx.keys,
            )
            found = {"accept_outage": measure_accept_outage(ctx, rounds=max(1, args.rounds))}
            print(json.dumps(found, indent=1))
            _write_alone("accept", found)
            return 0
        if args.only == "budget":
            found = {"budget": measure_budget(ctx)}
            _write_alone("budget", found)
            print(f"\nverdicts: {budget_verdicts(found)}")
            return 0
        if args.only == "drain":
            found = {"drain": measure_drain(ctx)}
            _write_alone("drain", found)
            return 0
        measurements.update(measure_fetch(ctx))
        measurements["counter_payments"] = measure_counter_payments(ctx)
        if not args.skip_drain:
            measurements["drain"] = measure_drain(ctx)
        # last: the payments it accepts stay PENDING (their bills are the bench's own) and
        # would otherwise join the drain's backlog
        measurements["accept_outage"] = measure_accept_outage(ctx)
        # after everything else: it pays seed bills and leaves DIGIT's latency at 8 s meanwhile
        measurements["budget"] = measure_budget(ctx)
        ctx.rss.sample_gunicorn("web", ctx.web)
        measurements["sandbox_counters"] = ctx.sandbox.counters()
        measurements["logins"] = measurements["sandbox_counters"].get("login", 0)
        measurements["peak_rss_mb"] = ctx.rss.megabytes()
        measurements["gunicorn"] = gunicorn_model(ctx.env)
    result = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": "make bench  (.venv/bin/python bench/run.py "
        + " ".join(argv or sys.argv[1:])
        + ")",
        "machine": machine(),
        "measurements": measurements,
        "targets": TARGETS,
    }
    result["verdicts"] = verdicts(measurements)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(table(result) + "\n")
    print(table(result))
    print(f"\nverdicts: {result['verdicts']}")
    print(f"machine: {result['machine']}")
    print(f"written: {args.out}")
    return 0


def _write_alone(name: str, found: dict[str, Any]) -> None:
    """A `--only` run's measurements: bench/results/<name>.json (with the machine) and the table
    rows they make (the full run's latest.json is left alone)."""
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"machine": machine(), "measurements": found}, indent=2))
    print(table({"measurements": found}))
    print(f"written: {out}")


def gunicorn_model(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [
            PYTHON,
            "-c",
            "import runpy; c = runpy.run_path('config/gunicorn.conf.py'); "
            "print({k: c[k] for k in ('workers', 'worker_class', 'worker_connections', 'threads', "
            "'keepalive', 'backlog')})",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return {"config": "config/gunicorn.conf.py", "effective": out.stdout.strip()}


if __name__ == "__main__":
    sys.exit(main())
