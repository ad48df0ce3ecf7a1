"""`make run` (bin/run-local) and the state of earlier runs: the embedded sandbox starts from its
seed every run, so its private ledger and Redis start empty too, unless KEEP_LOCAL_STATE; a
DATABASE_URL or REDIS_URL set outside is never emptied."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

from integrator.localpg import scratch_dir
from integrator.settings import Settings
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def load_run_local() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("run_local", str(ROOT / "bin" / "run-local"))
    spec = importlib.util.spec_from_loader("run_local", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


run_local = load_run_local()

EXTERNAL_DB = {"DATABASE_URL": "postgresql://me@db.internal/mine"}
EXTERNAL_REDIS = {"REDIS_URL": "redis://redis.internal:6379/0"}
REAL_DIGIT = {
    "DIGIT_BASE_URL": "https://digit.example.gov.in",
    "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
    "DIGIT_PASSWORD": "p",
    "DIGIT_TENANT_ID": "pb.amritsar",
}


@pytest.mark.parametrize(
    ("env", "fresh"),
    [
        ({}, (True, True)),  # the embedded default: everything starts from the seed
        ({"KEEP_LOCAL_STATE": "true"}, (False, False)),
        (EXTERNAL_DB, (False, True)),  # a ledger set outside is never emptied
        (EXTERNAL_REDIS, (True, False)),
        ({**EXTERNAL_DB, **EXTERNAL_REDIS}, (False, False)),
        ({**REAL_DIGIT, **EXTERNAL_DB}, (False, False)),  # a real DIGIT: nothing to agree with
    ],
)
def test_only_the_private_stores_start_empty_and_only_with_the_sandbox(
    env: dict[str, str], fresh: tuple[bool, bool]
) -> None:
    assert run_local.fresh_stores(Settings.from_env(env, dotenv=False)) == fresh


def test_start_up_says_what_starts_empty_and_warns_about_what_is_kept() -> None:
    (fresh,) = run_local.state_notes(Settings.from_env({}, dotenv=False))
    assert "empty ledger and Redis" in fresh and "KEEP_LOCAL_STATE=true" in fresh
    kept = run_local.state_notes(Settings.from_env({"KEEP_LOCAL_STATE": "1"}, dotenv=False))
    assert len(kept) == 1 and kept[0].startswith("WARNING: the ledger and Redis of earlier runs")
    mixed = run_local.state_notes(Settings.from_env(EXTERNAL_DB, dotenv=False))
    assert "empty Redis" in mixed[0] and "WARNING: the ledger of earlier runs" in mixed[1]
    assert run_local.state_notes(Settings.from_env({**REAL_DIGIT, **EXTERNAL_DB})) == []


def test_the_private_redis_data_is_removed_but_not_its_log(tmp_path: Path) -> None:
    (tmp_path / "appendonlydir").mkdir()
    (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").write_text("*1\r\n")
    (tmp_path / "dump.rdb").write_bytes(b"REDIS")
    (tmp_path / "redis.log").write_text("log\n")
    run_local.clear_redis_data(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redis.log"]
    run_local.clear_redis_data(tmp_path)  # nothing there: no error


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # the private PostgreSQL runs as its own user when we are root: a directory it can reach
    scratch = scratch_dir("integrator-run-local-state-")
    yield scratch / "var"
    shutil.rmtree(scratch, ignore_errors=True)


def test_a_fresh_start_empties_the_private_ledger_and_a_kept_one_keeps_it(var_dir: Path) -> None:
    settings = Settings.from_env(
        {"PG_PORT": str(free_port()), "VAR_DIR": str(var_dir)}, dotenv=False
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DIGIT_", "DATABASE_"))},
        "DATABASE_URL": settings.database_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    def run(*, fresh: bool) -> bool:
        """Start the cluster as run-local does; whether the earlier run's payment is there."""
        cluster = run_local.start_postgres(settings, var_dir, env, fresh=fresh)
        try:
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
                kept = conn.execute("SELECT to_regclass('earlier_run')").fetchone()
                conn.execute("CREATE TABLE IF NOT EXISTS earlier_run (id int)")
            return bool(kept and kept[0])
        finally:
            cluster.stop()

    assert not run(fresh=True)  # the first run
    assert run(fresh=False)  # KEEP_LOCAL_STATE: what the earlier run wrote is still there
    assert not run(fresh=True)  # the default: emptied, and migrated again
