"""The chaos run's PostgreSQL pair and Redis harm (chaos/procs.py), against real servers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from chaos.procs import Cluster, Postgres
from integrator.localpg import scratch_dir
from tests.support.processes import free_port


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # not pytest's tmp_path: as root, the PostgreSQL server's user must be able to reach it
    root = scratch_dir("integrator-chaos-parts-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def make_cluster(run_dir: Path, postgres: Postgres | None = None) -> Cluster:
    """A chaos Cluster with no web instance and no worker: only what a test starts itself."""
    return Cluster(
        run_dir=run_dir,
        env={},
        redis_port=free_port(),
        sandbox_port=free_port(),
        web_ports=[],
        workers=0,
        extra_consumers=0,
        postgres=postgres,
    )


def test_postgres_failover_keeps_every_acknowledged_row_behind_the_same_url(
    run_dir: Path,
) -> None:
    pg = Postgres(run_dir=run_dir, ports=(free_port(), free_port()))
    cluster = make_cluster(run_dir, pg)
    try:
        pg.start()
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE ledger (id int PRIMARY KEY)")
            for i in range(1, 21):
                conn.execute("INSERT INTO ledger VALUES (%s)", (i,))
        assert pg.standby is not None
        with psycopg.connect(pg.primary.url("postgres")) as conn:
            row = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchone()
        assert row == ("sync",)

        timings = cluster.postgres_failover()

        assert set(timings) == {"kill", "promote", "total"}
        assert 0 <= timings["kill"] <= timings["total"] < 30
        assert not pg.primary.running()
        assert pg.current_primary is pg.standby
        with psycopg.connect(pg.url) as conn:
            assert conn.info.port == pg.standby.port
            ids = [r[0] for r in conn.execute("SELECT id FROM ledger ORDER BY id")]
            assert ids == list(range(1, 21))
            conn.execute("INSERT INTO ledger VALUES (21)")
        with pytest.raises(RuntimeError):
            cluster.postgres_failover()  # nothing left to fail over to
    finally:
        cluster.stop()
    assert not pg.standby.running()


def test_the_parts_get_the_pair_as_database_url(run_dir: Path) -> None:
    pg = Postgres(run_dir=run_dir, ports=(5501, 5502))
    cluster = make_cluster(run_dir, pg)
    assert pg.url == (
        "postgresql://integrator@127.0.0.1:5501,127.0.0.1:5502/integrator"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    assert all(part.env["DATABASE_URL"] == pg.url for part in cluster.parts)


def test_flush_redis_and_restart_empty_loses_every_key(run_dir: Path) -> None:
    cluster = make_cluster(run_dir)
    try:
        cluster.redis.start()
        cluster.redis.wait_ready(timeout=30)
        client = redis_lib.Redis(port=cluster.redis_port)
        client.set("payment:1", "accepted")
        old_pid = cluster.redis.proc.pid if cluster.redis.proc else None

        took = cluster.flush_redis_and_restart_empty()

        assert 0 < took < 60
        assert cluster.redis.proc is not None and cluster.redis.proc.pid != old_pid
        assert cluster.redis.running() and not cluster.redis.expected_down
        assert client.dbsize() == 0
        assert client.get("payment:1") is None
        client.close()
    finally:
        cluster.stop()
