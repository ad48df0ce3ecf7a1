"""Start the real parts the tests talk to: a private redis-server, a private PostgreSQL cluster
and the DIGIT sandbox."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis
import requests

from integrator.localpg import PrivateCluster, scratch_dir


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # the thing is not up yet
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what or predicate}: {last!r}")


@contextlib.contextmanager
def redis_server(
    data_dir: Path, *, port: int | None = None, durable: bool = True
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A private redis-server on its own port and data directory, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test installs it)")
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    if durable:
        args += [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--maxmemory-policy",
            "noeviction",
        ]
    else:
        args += ["--appendonly", "no"]
    proc = subprocess.Popen(args)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        wait_for(client.ping, what="redis-server")
        client.close()
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def sandbox_server(*, port: int | None = None, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """The DIGIT sandbox as its own process, over real HTTP."""
    port = port or free_port()
    env = dict(os.environ)
    env.pop("DIGIT_BASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "integrator.sandbox", "--port", str(port), *extra_args],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/_sandbox/health", timeout=1).ok, what="sandbox")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def private_postgres(
    *, name: str = "tests", port: int | None = None, durable: bool = False
) -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster in a temporary directory, started; stopped and removed after.

    `durable=False` (the default for tests) skips fsync: a test cluster never outlives a crash
    of the machine, and the tests run several times faster.
    """
    root = scratch_dir(f"integrator-{name}-pg-")
    cluster = PrivateCluster(root / "cluster", port or free_port(), name=name, durable=durable)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        except Exception:
            cluster.kill()
        shutil.rmtree(root, ignore_errors=True)
