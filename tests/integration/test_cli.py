"""`integrator` CLI: CliRunner for the commands, real subprocesses for the worker and `make run`."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
import requests
from click.testing import CliRunner
from rq import Queue

from integrator import cli
from integrator.settings import Settings
from integrator.store.migrations import head_revision
from integrator.worker import REGISTRATION_QUEUE
from tests.support.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def stamp_job_id(key: str) -> str:
    """A job for the worker test: records the job id its logs carry, via the job context."""
    from integrator.jobs import context
    from integrator.logs import job_id_var

    job_id = job_id_var.get() or "none"
    context.current().redis.set(key, job_id, ex=60)
    logging.getLogger("tests.job").info("job ran")
    return job_id


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def env_for(redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DIGIT_", "REDIS_", "DATABASE_"))
    }
    env.update(
        {
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_BASE_URL": "http://127.0.0.1:9",
            "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
            "DIGIT_PASSWORD": "cli-test-password",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "REDIS_URL": redis_url,
            **extra,
        }
    )
    return env


@pytest.fixture(scope="module")
def durable_ledger_url() -> Iterator[str]:
    """A ledger on a durable private cluster (fsync on), as `integrator check` wants one."""
    from integrator.store.migrations import upgrade
    from tests.support.processes import private_postgres

    with private_postgres(name="durable", durable=True) as cluster:
        cluster.ensure_database("integrator")
        upgrade(cluster.url("integrator"))
        yield cluster.url("integrator")


def test_check_says_ok_and_reports_the_ledger_and_redis(
    settings: Settings, durable_ledger_url: str
) -> None:
    ready = settings.with_changes(
        database_url=durable_ledger_url, secret_key="a-session-key-of-32-characters!!"
    )
    result = CliRunner().invoke(cli.main, ["check"], obj=ready)
    assert result.exit_code == 0, result.output
    assert "OK:" in result.stdout
    assert f"ledger schema {head_revision()}, fsync on, synchronous_commit on" in result.stdout
    assert "(master)" in result.stdout  # the Redis role
    # the test ledger has no standby: said plainly, not hidden
    assert "no synchronous standby" in result.stderr
    assert settings.digit_password not in result.output


@pytest.mark.parametrize(
    "change",
    [{"digit_password": "not-the-password"}, {"digit_username": "NOBODY_AT_ALL"}],
    ids=["wrong password", "unknown user"],
)
def test_check_logs_in_with_its_own_credentials_even_when_a_token_is_stored(
    settings: Settings, durable_ledger_url: str, redis: redis_lib.Redis, change: dict[str, str]
) -> None:
    # a token another process got with good credentials proves nothing about these ones: the
    # check must say the configured login is refused (found by review: it printed "logged in")
    ready = settings.with_changes(
        database_url=durable_ledger_url, secret_key="a-session-key-of-32-characters!!"
    )
    assert CliRunner().invoke(cli.main, ["check"], obj=ready).exit_code == 0
    stored = redis.keys("*token*")
    assert stored  # the good login's token is in Redis

    result = CliRunner().invoke(cli.main, ["check"], obj=ready.with_changes(**change))

    assert result.exit_code == 1, result.output
    assert "DIGIT refused" in result.stderr
    assert "logged in" not in result.stdout
    assert "not-the-password" not in result.output
    # the stored token (good credentials) is left for the processes using it
    again = CliRunner().invoke(cli.main, ["check"], obj=ready)
    assert again.exit_code == 0, again.output


def test_check_names_a_redis_that_takes_no_writes_as_a_problem(
    settings: Settings, durable_ledger_url: str, tmp_path: Path
) -> None:
    from tests.support.processes import redis_server

    with redis_server(tmp_path / "replica", durable=False) as (url, _proc):
        replica = redis_lib.Redis.from_url(url)
        replica.replicaof("127.0.0.1", str(free_port()))  # a replica of nothing: read-only
        ready = settings.with_changes(
            database_url=durable_ledger_url,
            secret_key="a-session-key-of-32-characters!!",
            redis_url=url,
        )

        result = CliRunner().invoke(cli.main, ["check"], obj=ready)

        replica.close()
    assert result.exit_code == 1, result.output
    assert "takes no writes (role slave)" in result.stderr
    assert "Traceback" not in result.output


def test_check_names_a_ledger_without_fsync_as_a_problem(settings: Settings) -> None:
    # the tests' own cluster runs without fsync: check must not call that safe for money
    result = CliRunner().invoke(cli.main, ["check"], obj=settings)
    assert result.exit_code == 1
    assert "fsync is 'off'" in result.stderr


def test_check_fails_naming_the_command_when_the_schema_is_behind(
    settings: Settings, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'older'")
    try:
        result = CliRunner().invoke(cli.main, ["check"], obj=settings)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))
    assert result.exit_code == 1
    assert "integrator db upgrade" in result.output


def test_db_upgrade_is_safe_to_run_again_and_status_reports_durability(
    settings: Settings, durable_ledger_url: str
) -> None:
    durable = settings.with_changes(database_url=durable_ledger_url)
    upgraded = CliRunner().invoke(cli.main, ["db", "upgrade"], obj=durable)
    assert upgraded.exit_code == 0, upgraded.output
    head = head_revision()
    assert f"schema at {head} (was {head})" in upgraded.output
    status = CliRunner().invoke(cli.main, ["db", "status"], obj=durable)
    assert status.exit_code == 0, status.output
    assert '"fsync": "on"' in status.output and f'"schema": "{head}"' in status.output
    # the tests' own cluster runs without fsync: `db status` exits 1 and says why
    unsafe = CliRunner().invoke(cli.main, ["db", "status"], obj=settings)
    assert unsafe.exit_code == 1 and "fsync is 'off'" in unsafe.output


def test_check_fails_naming_a_missing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    env = env_for("redis://127.0.0.1:1/0")
    env["DIGIT_PASSWORD"] = ""
    result = CliRunner().invoke(cli.main, ["check"], env=env)
    assert result.exit_code == 1
    assert "DIGIT_PASSWORD is required" in result.output


def test_check_reports_every_settings_problem_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    env = env_for("redis://127.0.0.1:1/0")
    env.update(
        DIGIT_USERNAME="",
        PORT="eighty",
        DIGIT_TIMEZONE="Mars/Olympus",
        DATABASE_URL="mysql://nope",
        SECRET_KEY="",
        OPS_USERS="carol:admin:x$y$z",
        # out of range or not one of the choices: reported too, not called valid
        DATABASE_POOL_SIZE="-5",
        WEB_WORKER_CLASS="foo",
        BIND="not-an-ip",
        CASH_IN_HAND_CAP="-1",
    )
    result = CliRunner().invoke(cli.main, ["check"], env=env)
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("PROBLEM")]
    for expected in (
        "DIGIT_USERNAME is required",
        "PORT must be an integer",
        "DIGIT_TIMEZONE is not a known time zone",
        "DATABASE_URL must be a postgresql:// URL",
        "SECRET_KEY is required",
        "OPS_USERS entry 1 (carol): role must be viewer, operator or cashier",
        "DATABASE_POOL_SIZE must be at least 1, got -5",
        "WEB_WORKER_CLASS must be one of gevent, gthread, got 'foo'",
        "BIND must be an IP address to listen on",
        "CASH_IN_HAND_CAP must be 0 or more, got -1",
        "redis:",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    assert "the web app or the worker would refuse to start" in result.stderr


def test_a_short_secret_key_is_a_problem_and_no_ops_account_a_warning(
    settings: Settings, durable_ledger_url: str, sandbox: str
) -> None:
    short = settings.with_changes(database_url=durable_ledger_url, secret_key="short")
    result = CliRunner().invoke(cli.main, ["check"], obj=short)
    assert result.exit_code == 1
    assert "PROBLEM settings: SECRET_KEY must be at least 16 characters" in result.stderr
    assert "WARNING settings: OPS_USERS is empty" in result.stderr
    assert "DIGIT: logged in to DIGIT as" in result.stdout  # DIGIT is still asked, once


def test_start_up_names_every_settings_problem_at_once() -> None:
    from integrator.settings import SettingsError

    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            {"DIGIT_BASE_URL": "https://digit.example", "PORT": "x", "WEB_WORKERS": "y"},
            dotenv=False,
        )
    # DIGIT_USERNAME, DIGIT_PASSWORD, DIGIT_TENANT_ID, DATABASE_URL, PORT, WEB_WORKERS
    assert len(refused.value.problems) == 6, refused.value.problems
    message = str(refused.value)
    assert "PORT must be an integer" in message and "WEB_WORKERS must be an integer" in message
    assert "DIGIT_USERNAME is required" in message and "DATABASE_URL is required" in message


def test_sandbox_passes_every_argument_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import integrator.sandbox

    seen: list[list[str] | None] = []

    def fake_main(argv: list[str] | None = None) -> int:
        seen.append(argv)
        return 3

    monkeypatch.setattr(integrator.sandbox, "main", fake_main)
    result = CliRunner().invoke(cli.main, ["sandbox", "--port", "9999", "--list", "--help"])
    assert result.exit_code == 3
    assert seen == [["--port", "9999", "--list", "--help"]]


def test_digit_status_reports_the_sandbox_without_secrets(settings: Settings, sandbox: str) -> None:
    result = CliRunner().invoke(cli.main, ["digit", "status"], obj=settings)
    assert result.exit_code == 0, result.output
    assert '"reachable": true' in result.output
    assert settings.digit_password not in result.output
    # times in the CLI's one zone, named
    assert '"timezone": "Asia/Kolkata (DIGIT_TIMEZONE)"' in result.output
    assert re.search(r'"expires_at": "[^"]+\+05:30"', result.output), result.output


def test_digit_status_exits_1_when_digit_is_unreachable(settings: Settings) -> None:
    down = settings.with_changes(digit_base_url=f"http://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(cli.main, ["digit", "status"], obj=down)
    assert result.exit_code == 1
    assert '"reachable": false' in result.output


def test_digit_unlock_lifts_the_login_lock(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import integrator.digit.auth

    calls: list[redis_lib.Redis] = []
    monkeypatch.setattr(integrator.digit.auth, "unlock", calls.append)
    result = CliRunner().invoke(cli.main, ["digit", "unlock"], obj=settings)
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert len(calls) == 1


def test_the_cli_lists_its_groups() -> None:
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    for name in ("check", "worker", "sandbox", "digit"):
        assert name in result.output


def test_worker_rejects_an_unknown_queue(settings: Settings) -> None:
    result = CliRunner().invoke(cli.main, ["worker", "--burst", "--queue", "nope"], obj=settings)
    assert result.exit_code == 2
    assert "unknown queues" in result.output


def test_a_real_worker_process_runs_a_job_with_its_id_on_the_logs(
    redis: redis_lib.Redis, redis_url: str, database_url: str
) -> None:
    job = Queue(REGISTRATION_QUEUE, connection=redis).enqueue(
        "tests.integration.test_cli.stamp_job_id", "integrator:test:stamped", job_id="stamp-1"
    )
    out = subprocess.run(
        [sys.executable, "-m", "integrator.cli", "worker", "--burst"],
        cwd=ROOT,
        env=env_for(redis_url, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert redis.get("integrator:test:stamped") == b"stamp-1"
    job.refresh()
    assert job.get_status() == "finished"
    assert '"job_id":"stamp-1"' in out.stderr
    assert "cli-test-password" not in out.stdout + out.stderr


def test_a_real_worker_refuses_an_unreachable_ledger_in_one_line(
    redis_url: str, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "integrator.cli", "worker", "--burst"],
        cwd=ROOT,
        env=env_for(redis_url, DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/x"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "cli-test-password" not in out.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _sign_in_as_the_printed_demo_operator(
    proc: subprocess.Popen[str], port: int
) -> tuple[bool, str]:
    """Read run-local's output up to the demo operator's password, then sign in with it."""
    import re

    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if line.strip().startswith("password "):
            break
    text = "".join(seen)
    name = re.search(r"^\s+name (\S+)$", text, re.M)
    password = re.search(r"^\s+password (\S+)$", text, re.M)
    assert name and password, text[-2000:]
    http = requests.Session()
    login = f"http://127.0.0.1:{port}/ops/login"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get(login, timeout=5).text)
    assert csrf
    answer = http.post(
        login,
        data={"username": name[1], "password": password[1], "csrf_token": csrf[1]},
        timeout=10,
    )
    return answer.status_code == 200 and f"{name[1]} (operator)" in answer.text, text


def test_run_local_serves_healthz_and_stops_everything_on_ctrl_c() -> None:
    from integrator.localpg import scratch_dir

    port, redis_port, sandbox_port, pg_port = free_port(), free_port(), free_port(), free_port()
    # the private PostgreSQL runs as its own user when we are root: a directory it can reach
    scratch = scratch_dir("integrator-run-local-")
    var = scratch / "var"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DIGIT_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        PORT=str(port),
        REDIS_PORT=str(redis_port),
        SANDBOX_PORT=str(sandbox_port),
        PG_PORT=str(pg_port),
        VAR_DIR=str(var),
        WEB_WORKERS="1",
        WEB_THREADS="4",
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / "run-local")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pids: list[int] = []
    demo_signed_in, printed = False, ""
    try:
        wait_for(
            lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok,
            timeout=60,
            what="run-local's /healthz",
        )
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert (ready.json()["ledger"], ready.json()["redis"]) == ("ok", "ok")
        # loopback only (BIND unset): another loopback address finds nobody listening
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.2:{port}/healthz", timeout=1)
        pid_file = var / "run-local.pids"
        pids = [int(line.split()[1]) for line in pid_file.read_text().splitlines()]
        assert len(pids) >= 4  # redis, sandbox, web, worker (and the cluster's postmaster)
        assert (var / "redis").is_dir() and (var / "pg").is_dir()
        demo_signed_in, printed = _sign_in_as_the_printed_demo_operator(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=25)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"run-local did not stop on SIGINT:\n{output[-3000:]}")
        output = printed + output
    assert proc.returncode == 0, output[-3000:]
    assert "http://127.0.0.1:" in output
    assert "Traceback" not in output, output[-3000:]  # a quiet stop (test_web_stop.py)
    assert demo_signed_in, output[-3000:]
    assert not [pid for pid in pids if _alive(pid)]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert time.monotonic() - started < 90
    shutil.rmtree(scratch, ignore_errors=True)
