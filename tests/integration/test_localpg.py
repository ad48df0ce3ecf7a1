"""integrator.localpg against real PostgreSQL servers: a private cluster's life cycle, the test
fixtures' fresh databases, and a synchronous standby that survives the primary's SIGKILL."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from integrator.localpg import (
    PrivateCluster,
    make_standby,
    multi_host_url,
    scratch_dir,
    set_synchronous_standby,
)
from tests.support.processes import free_port


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = scratch_dir("integrator-localpg-test-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clusters(scratch: Path) -> Iterator[list[PrivateCluster]]:
    """Clusters a test makes; each is SIGKILLed afterwards, whatever state the test left it in."""
    made: list[PrivateCluster] = []
    yield made
    for cluster in made:
        cluster.kill()


def show(url: str, setting: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


def test_a_durable_cluster_starts_takes_a_connection_and_stops(
    scratch: Path, clusters: list[PrivateCluster]
) -> None:
    cluster = PrivateCluster(scratch / "one", free_port(), name="one")
    clusters.append(cluster)
    cluster.init()
    cluster.init()  # a second init leaves the cluster as it is
    cluster.start()
    assert cluster.running()
    assert cluster.ensure_database("ledger") is True
    assert cluster.ensure_database("ledger") is False
    url = cluster.url("ledger")
    assert url == f"postgresql://integrator@127.0.0.1:{cluster.port}/ledger"
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
    for setting, expected in {
        "fsync": "on",
        "synchronous_commit": "on",
        "wal_level": "replica",
        "hot_standby": "on",
        "listen_addresses": "127.0.0.1",
        "server_encoding": "UTF8",
        "port": str(cluster.port),
        "unix_socket_directories": str(cluster.socket_dir),
    }.items():
        assert show(url, setting) == expected, setting
    assert cluster.log_path.is_file()

    cluster.stop()
    assert not cluster.running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()

    cluster.start()  # the data survived the restart
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM t").fetchall() == [(1,)]
    cluster.stop()


def test_a_killed_cluster_recovers_what_it_committed(
    scratch: Path, clusters: list[PrivateCluster]
) -> None:
    cluster = PrivateCluster(scratch / "crash", free_port(), name="crash")
    clusters.append(cluster)
    cluster.init()
    cluster.start()
    with psycopg.connect(cluster.url("postgres")) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
    pid = cluster.postmaster_pid()
    cluster.kill()
    assert pid is not None and cluster.postmaster_pid() is None
    cluster.start()  # crash recovery from the WAL
    with psycopg.connect(cluster.url("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (100,)
    cluster.stop()


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_database(database_url: str, round_: int) -> None:
    # run twice: the second run would find the first one's table if databases were shared
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE scratch (round int)")
        conn.execute("INSERT INTO scratch VALUES (%s)", (round_,))
        assert conn.execute("SELECT round FROM scratch").fetchall() == [(round_,)]


def test_the_session_cluster_url_is_its_maintenance_database(
    postgres_url: str, database_url: str
) -> None:
    assert postgres_url.endswith("/postgres")
    with psycopg.connect(postgres_url) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert database_url.rsplit("/", 1)[1] in names


def committed_rows(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM ledger ORDER BY id")]


def backend_waits_for_sync_rep(primary: PrivateCluster) -> bool:
    with psycopg.connect(primary.url("postgres")) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
        ).fetchone()
    return bool(row and row[0] > 0)


def test_a_synchronous_standby_holds_every_commit_and_takes_over_after_a_crash(
    scratch: Path, clusters: list[PrivateCluster]
) -> None:
    primary = PrivateCluster(scratch / "primary", free_port(), name="primary")
    clusters.append(primary)
    primary.init()
    primary.start()
    primary.ensure_database("ledger")
    with psycopg.connect(primary.url("ledger")) as conn:
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY)")
    standby = make_standby(primary, scratch / "standby", free_port(), application_name="standby1")
    clusters.append(standby)
    standby.start()
    assert standby.in_recovery()
    set_synchronous_standby(primary, "standby1")

    with psycopg.connect(primary.url("ledger"), autocommit=True) as conn:
        for i in range(1, 51):
            conn.execute("INSERT INTO ledger VALUES (%s)", (i,))

    # with the standby down, a commit on the primary waits (for ever) for its flush
    standby.stop()
    done = threading.Event()

    def commit_one() -> None:
        with psycopg.connect(primary.url("ledger"), autocommit=True) as conn:
            conn.execute("INSERT INTO ledger VALUES (51)")
        done.set()

    writer = threading.Thread(target=commit_one, daemon=True)
    writer.start()
    assert not done.wait(timeout=2.0), "the commit did not wait for the synchronous standby"
    assert backend_waits_for_sync_rep(primary)
    # ... and goes through as soon as the standby is back
    standby.start()
    assert done.wait(timeout=30), "the commit did not resume when the standby came back"
    writer.join(timeout=5)

    with psycopg.connect(primary.url("ledger"), autocommit=True) as conn:
        for i in range(52, 101):
            conn.execute("INSERT INTO ledger VALUES (%s)", (i,))

    url = multi_host_url([primary, standby], "ledger")
    assert url == (
        f"postgresql://integrator@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/ledger"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    with psycopg.connect(url) as conn:
        assert conn.info.port == primary.port

    primary.kill()
    started = time.monotonic()
    standby.promote()
    assert not standby.in_recovery()
    assert time.monotonic() - started < 30

    # the same URL now finds the promoted standby, with every row the primary acknowledged
    assert committed_rows(url) == list(range(1, 101))
    with psycopg.connect(url) as conn:
        assert conn.info.port == standby.port
        conn.execute("INSERT INTO ledger VALUES (101)")  # and it takes writes
    assert committed_rows(url)[-1] == 101
    standby.stop()


def test_a_cluster_directory_the_server_user_cannot_reach_moves_to_one_it_can(
    tmp_path: Path,
) -> None:
    from integrator.localpg import reachable_dir, server_user

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    target = reachable_dir(private / "pg")
    user = server_user()
    if user.switch:  # as root the server runs as another user, who cannot enter `private`
        assert target.parent == Path("/var/tmp/integrator-pg")
        assert target.stat().st_uid == user.uid
        assert reachable_dir(private / "pg") == target  # the same place on every run
    else:
        assert target == private / "pg"
