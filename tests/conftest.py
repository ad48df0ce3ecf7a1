"""Shared fixtures: a real redis-server, a private PostgreSQL cluster and the DIGIT sandbox over
HTTP, all started by the tests.

PostgreSQL: `postgres_cluster` (one cluster per session), `postgres_url` (its maintenance
database), `database_url` (a fresh database per test, copied from a template migrated once
with the ledger's Alembic revisions) and `db` (a pool on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
import requests
from psycopg import sql

from integrator.localpg import PrivateCluster
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.migrations import upgrade
from tests.support.ledger import fresh_database
from tests.support.processes import private_postgres, redis_server, sandbox_server

pytest_plugins = ["tests.support.secrets_guard"]  # no secret in any log line or sent to DIGIT


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as (url, _proc):
        yield url


@pytest.fixture
def redis(redis_url: str) -> Iterator[redis_lib.Redis]:
    """A clean database for each test: flushed before and after."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A pool on this test's own ledger database."""
    database = Database.connect(database_url, max_size=8)
    yield database
    database.close()


@pytest.fixture(autouse=True)
def _close_ledger_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every ledger pool a test opened (apps built by tests are never shut down, and a
    pool collected while open joins its threads from the garbage collector)."""
    opened: list[Database] = []
    connect = Database.connect.__func__  # type: ignore[attr-defined]

    def tracking(cls: type[Database], url: str, **kwargs: int) -> Database:
        database = connect(cls, url, **kwargs)
        opened.append(database)
        return database

    monkeypatch.setattr(Database, "connect", classmethod(tracking))
    yield
    for database in opened:
        database.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    # token TTL and back-update lag short but above zero, as the issue asks of tests
    with sandbox_server(extra_args=("--token-ttl", "600", "--backupdate-lag", "1.0")) as url:
        yield url


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[str]:
    """The sandbox, reset to its seed data and no faults, for one test."""
    requests.post(f"{sandbox_url}/_sandbox/reset", timeout=5).raise_for_status()
    yield sandbox_url
    requests.post(f"{sandbox_url}/_sandbox/reset", timeout=5).raise_for_status()


TEMPLATE_DATABASE = "integrator_template"  # migrated once per session; each test gets a copy


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PrivateCluster]:
    """One private PostgreSQL cluster for the session (own temp dir and free port, no fsync)."""
    with private_postgres(name="tests") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PrivateCluster) -> str:
    """The session cluster's maintenance database (postgresql://integrator@127.0.0.1:P/postgres)."""
    return postgres_cluster.url("postgres")


@pytest.fixture(scope="session")
def database_template(postgres_cluster: PrivateCluster) -> str:
    """A database with the ledger's schema, migrated once, that every test database copies."""
    postgres_cluster.ensure_database(TEMPLATE_DATABASE)
    upgrade(postgres_cluster.url(TEMPLATE_DATABASE))
    with psycopg.connect(postgres_cluster.url("postgres"), autocommit=True) as conn:
        # CREATE DATABASE ... TEMPLATE needs the template to have no sessions: close any the
        # migration left open (a pooled engine) and refuse new ones
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(TEMPLATE_DATABASE)
            )
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEMPLATE_DATABASE,),
        )
    return TEMPLATE_DATABASE


@pytest.fixture
def database_url(postgres_cluster: PrivateCluster, database_template: str) -> Iterator[str]:
    """A fresh database for one test, with the ledger's schema; dropped after."""
    with fresh_database(postgres_cluster, database_template) as url:
        yield url


@pytest.fixture
def settings(redis_url: str, sandbox_url: str, database_url: str) -> Settings:
    """Settings pointing at the test Redis, a fresh test ledger and the test sandbox (the
    sandbox's system account)."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "DIGIT_BASE_URL": sandbox_url,
            "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
            "DIGIT_PASSWORD": "sandbox-password",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "REDIS_URL": redis_url,
            "DIGIT_READ_TIMEOUT": "5",
            "REGISTRATION_BUDGET_SECONDS": "3",
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
        }
    )
