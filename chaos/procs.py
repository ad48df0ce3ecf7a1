"""The processes of a chaos run, as bin/run-local starts them, plus the harm the run does to them.

Each part runs in its own session (process group) with its log in the run directory. A watcher
thread restarts any part that exits on its own (and records it: that is a finding to report);
parts the run kills on purpose are marked first, so their deaths are not counted as crashes.

The harm, as Cluster methods (each returns how long the part took to come back):

    kill_worker(i, restart_after=...)     SIGKILL a worker (and its work horse)
    restart_redis(down_seconds=...)       SIGKILL Redis, start it again on its AOF
    flush_redis_and_restart_empty()       lose everything Redis held: FLUSHALL, empty data dir
    postgres_failover()                   SIGKILL the PostgreSQL primary, promote its standby

PostgreSQL is optional (`Cluster(..., postgres=Postgres(...))`): a primary and a synchronous
standby (integrator.localpg), so a commit the ledger acknowledged is on both; the parts reach
them through one multi-host URL (`Postgres.url`) that follows the primary across a failover.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from integrator.localpg import (
    PrivateCluster,
    make_standby,
    multi_host_url,
    reachable_dir,
    set_synchronous_standby,
)
from integrator.settings import LOCAL_PG_DATABASE

ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (local)
            return bool(response.status == 200)
    except OSError:
        return False


def redis_ping(port: int) -> bool:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "ping"],
        capture_output=True,
        text=True,
        check=False,
        timeout=5,
    )
    return out.stdout.strip() == "PONG"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (RQ's work horse may sit in a session of its own)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    found += [int(child), *descendants(int(child))]
    return found


class Part:
    """One supervised process: its command, environment, log and current Popen."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        log_dir: Path,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.expected_down = False  # killed on purpose: the watcher leaves it alone
        self.starts = 0
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (kept open while it runs)
        self._log.write(f"\n--- chaos: start #{self.starts + 1} at {time.time():.3f}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited during start-up (see {self.log_path})")
            if self.ready is None or self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s (see {self.log_path})")

    def kill(self) -> None:
        """SIGKILL the whole part: its process group and anything below it, wherever it sits."""
        if self.proc is None:
            return
        below = descendants(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_GRACE_SECONDS)
        self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


class Postgres:
    """A PostgreSQL primary and its synchronous standby: the ledger of a chaos run.

    Both are private clusters (integrator.localpg) in `run_dir/postgres/{primary,standby}`, durable
    (fsync on), with the standby in synchronous_standby_names: a commit returns only once the
    standby has flushed it, so SIGKILLing the primary loses nothing acknowledged. `url` names
    both hosts with target_session_attrs=read-write: whichever is the primary is the one used.

        pg = Postgres(run_dir=run_dir, ports=(free_port(), free_port()))
        pg.start()                 # initdb, start, database, pg_basebackup, standby, sync
        env["DATABASE_URL"] = pg.url
        timings = pg.failover()    # SIGKILL the primary, promote the standby
        pg.stop()

    After a failover the new primary runs alone: nothing waits for a standby any more (the old
    primary is not rebuilt), so a second failover has nowhere to go.
    """

    APPLICATION_NAME = "chaos_standby"

    def __init__(
        self, *, run_dir: Path, ports: tuple[int, int], database: str = LOCAL_PG_DATABASE
    ) -> None:
        # where the server's user can reach it (it is not us when we run as root)
        self.dir = reachable_dir(run_dir / "postgres")
        self.database = database
        self.primary = PrivateCluster(self.dir / "primary", ports[0], name="chaos-primary")
        self._standby_port = ports[1]
        self.standby: PrivateCluster | None = None
        self.failed_over = False
        # the URL is known before start: the web and worker environments are built first
        self.url = multi_host_url(
            [self.primary, PrivateCluster(self.dir / "standby", ports[1], name="chaos-standby")],
            database,
        )

    @property
    def current_primary(self) -> PrivateCluster:
        """The cluster taking writes now: the primary, or the standby after failover()."""
        if self.failed_over and self.standby is not None:
            return self.standby
        return self.primary

    def start(self) -> None:
        """Primary (with the database), then its standby, then make the standby synchronous."""
        self.primary.init()
        self.primary.start()
        self.primary.ensure_database(self.database)
        self.standby = make_standby(
            self.primary,
            self.dir / "standby",
            self._standby_port,
            application_name=self.APPLICATION_NAME,
            name="chaos-standby",
        )
        self.standby.start()
        set_synchronous_standby(self.primary, self.APPLICATION_NAME)

    def running(self) -> bool:
        """True while the current primary's postmaster is alive."""
        return self.current_primary.running()

    def failover(self) -> dict[str, float]:
        """SIGKILL the primary (and its backends), then promote the standby.

        Returns seconds: `kill` (until the primary's processes were gone), `promote` (until
        the standby left recovery) and `total` (from the kill to a writable primary).
        """
        if self.standby is None or self.failed_over:
            raise RuntimeError("no standby to fail over to")
        started = time.monotonic()
        self.primary.kill()
        killed = time.monotonic()
        self.standby.promote()
        promoted = time.monotonic()
        self.failed_over = True
        return {
            "kill": round(killed - started, 3),
            "promote": round(promoted - killed, 3),
            "total": round(promoted - started, 3),
        }

    def stop(self) -> None:
        """Fast shutdown of whichever of the two is still running; the data stays in `dir`."""
        for cluster in (self.standby, self.primary):
            if cluster is None:
                continue
            try:
                cluster.stop()
            except RuntimeError:
                cluster.kill()


class Cluster:
    """PostgreSQL (optional), Redis, the sandbox, two web instances and the workers of one run."""

    def __init__(
        self,
        *,
        run_dir: Path,
        env: dict[str, str],
        redis_port: int,
        sandbox_port: int,
        web_ports: list[int],
        workers: int,
        extra_consumers: int,
        postgres: Postgres | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.postgres = postgres
        if postgres is not None:
            env = {**env, "DATABASE_URL": postgres.url}
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis_dir = run_dir / "redis"
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        self.redis_port = redis_port
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.web_urls = [f"http://127.0.0.1:{port}" for port in web_ports]
        self.restarts: Counter[str] = Counter()
        self.crashes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.postgres_expected_down = False  # during postgres_failover(): not a crash
        python = sys.executable
        self.redis = Part(
            "redis",
            [
                "redis-server",
                str(ROOT / "config" / "redis.conf"),
                "--port",
                str(redis_port),
                "--dir",
                str(self.redis_dir),
                "--logfile",
                str(self.log_dir / "redis-server.log"),
            ],
            env,
            self.log_dir,
            ready=lambda: redis_ping(redis_port),
        )
        self.sandbox = Part(
            "sandbox",
            [
                python,
                "-m",
                "integrator.sandbox",
                "--port",
                str(sandbox_port),
                "--extra-consumers",
                str(extra_consumers),
            ],
            env,
            self.log_dir,
            ready=lambda: http_ok(f"{self.sandbox_url}/_sandbox/health"),
        )
        self.webs = [
            Part(
                f"web{i + 1}",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(ROOT / "config" / "gunicorn.conf.py"),
                    "integrator.wsgi:app",
                ],
                {**env, "PORT": str(port)},
                self.log_dir,
                ready=lambda url=url: http_ok(f"{url}/readyz", timeout=3),
            )  # type: ignore[misc]
            for i, (port, url) in enumerate(zip(web_ports, self.web_urls, strict=True))
        ]
        self.workers = [
            Part(f"worker{i + 1}", [python, "-m", "integrator.cli", "worker"], env, self.log_dir)
            for i in range(workers)
        ]

    @property
    def parts(self) -> list[Part]:
        return [self.redis, self.sandbox, *self.webs, *self.workers]

    def start(self, *, then: Callable[[], None] | None = None) -> None:
        """PostgreSQL (if any), Redis and the sandbox, then `then()` (while the machine is
        quiet), then the rest."""
        if self.postgres is not None:
            self.postgres.start()
        for part in (self.redis, self.sandbox):
            part.start()
        for part in (self.redis, self.sandbox):
            part.wait_ready(timeout=120)
        if then is not None:
            then()
        for part in [*self.webs, *self.workers]:
            part.start()
        for part in self.webs:
            part.wait_ready(timeout=90)
        self._watcher = threading.Thread(target=self._watch, name="chaos-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self._watch_postgres()
            for part in self.parts:
                with self._lock:
                    if part.expected_down or part.running() or self._stop.is_set():
                        continue
                    code = part.proc.returncode if part.proc is not None else None
                    self.crashes.append({"part": part.name, "returncode": code, "at": time.time()})
                    self.restarts[part.name] += 1
                    print(f"chaos: {part.name} exited with {code}; restarting it", flush=True)
                    part.start()

    def _watch_postgres(self) -> None:
        pg = self.postgres
        with self._lock:
            if pg is None or self._stop.is_set() or self.postgres_expected_down or pg.running():
                return
            name = pg.current_primary.name
            self.crashes.append({"part": name, "returncode": None, "at": time.time()})
            self.restarts[name] += 1
            print(f"chaos: {name} is not running; restarting it", flush=True)
            pg.current_primary.start()

    def kill_worker(self, index: int, *, restart_after: float | None) -> None:
        """SIGKILL a worker mid-run (its group and its work horse); maybe start it again."""
        part = self.workers[index]
        with self._lock:
            part.expected_down = True
        part.kill()
        if restart_after is not None:
            time.sleep(restart_after)
            with self._lock:
                part.start()
                part.expected_down = False

    def restart_redis(self, *, down_seconds: float) -> float:
        """SIGKILL Redis, start it again on the same dir and port (it replays its AOF).

        Returns the seconds it took until Redis answered PING again.
        """
        with self._lock:
            self.redis.expected_down = True
        self.redis.kill()
        time.sleep(down_seconds)
        started = time.monotonic()
        with self._lock:
            self.redis.start()
        self.redis.wait_ready(timeout=60)
        with self._lock:
            self.redis.expected_down = False
        return time.monotonic() - started

    def flush_redis_and_restart_empty(self) -> float:
        """Lose everything Redis holds: FLUSHALL, then a restart on an empty data directory.

        What a Redis whose disk was lost (or a fresh replacement) looks like to the parts: no
        queue, no keys. Returns the seconds from the FLUSHALL until Redis answered PING again.
        """
        started = time.monotonic()
        with self._lock:
            self.redis.expected_down = True
        subprocess.run(
            ["redis-cli", "-p", str(self.redis_port), "FLUSHALL", "SYNC"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        self.redis.kill()
        for entry in self.redis_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        with self._lock:
            self.redis.start()
        self.redis.wait_ready(timeout=60)
        with self._lock:
            self.redis.expected_down = False
        return time.monotonic() - started

    def postgres_failover(self) -> dict[str, float]:
        """SIGKILL the PostgreSQL primary and promote its synchronous standby.

        The parts keep their DATABASE_URL (both hosts, read-write): their next connection finds
        the promoted standby. Returns `Postgres.failover()`'s timings in seconds.
        """
        if self.postgres is None:
            raise RuntimeError("this run has no PostgreSQL")
        with self._lock:
            self.postgres_expected_down = True
        try:
            return self.postgres.failover()
        finally:
            with self._lock:
                self.postgres_expected_down = False

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for part in reversed(self.parts):
            part.stop()
        if self.postgres is not None:  # last: the web and workers were its clients
            self.postgres.stop()
