"""Worker processes for tests: exactly what the Procfile's `worker: integrator worker` runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

#: The console script pip installs next to the interpreter (what the Procfile names).
INTEGRATOR = str(Path(sys.executable).with_name("integrator"))


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextlib.contextmanager
def worker_processes(
    env: dict[str, str], log_dir: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """`start(**overrides)` starts one `integrator worker` (its own process group, so a SIGKILL
    takes all of it), logging to `log_dir`; every worker is stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def start(**overrides: str) -> subprocess.Popen[bytes]:
        log = open(log_dir / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        logs.append(log)
        proc = subprocess.Popen(
            [INTEGRATOR, "worker"],
            env={**os.environ, **env, **overrides},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            signal_group(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            signal_group(proc.pid, signal.SIGKILL)  # the scheduler child, if orphaned
        for log in logs:
            log.close()
