"""The web app (gunicorn, gevent workers) stops quietly: its ledger pools are closed in
gunicorn's worker_exit hook, not left to psycopg_pool's `__del__` at interpreter exit, which
printed "RuntimeError: greenlet is being finalized" tracebacks on every Ctrl-C of `make run`."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def get(port: int, path: str) -> int:
    """One request on a connection closed after it (a kept-alive one would hold the worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_web_app_stops_without_tracebacks(
    redis_url: str, sandbox_url: str, database_url: str
) -> None:
    port = free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DIGIT_", "REDIS_", "WEB_", "PORT", "DATABASE_", "BIND"))
        },
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DIGIT_BASE_URL": sandbox_url,
        "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
        "DIGIT_PASSWORD": "sandbox-password",
        "DIGIT_TENANT_ID": "pb.amritsar",
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "PORT": str(port),
        "WEB_WORKERS": "2",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "integrator.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: get(port, "/healthz") == 200, timeout=45, what="the web app")
        for _ in range(4):  # the ledger pools of both workers in use
            assert get(port, "/readyz") in (200, 503)
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            output, _ = web.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            web.kill()
            output, _ = web.communicate()
    assert web.returncode == 0, output[-3000:]
    assert output.count("Worker exiting") == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
