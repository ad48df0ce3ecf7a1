"""Shared fixtures: a real redis-server and the DIGIT sandbox over HTTP, started by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from integrator.settings import Settings
from integrator.store.db import Database
from tests.support.ledger import clean_ledger, migrated_database_url
from tests.support.processes import redis_server, sandbox_server

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


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ledger's database for this test session, migrated to head."""
    with migrated_database_url(Path(tmp_path_factory.mktemp("pg"))) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The ledger, emptied before each test (every table truncated)."""
    clean_ledger(database_url)
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


@pytest.fixture
def settings(redis_url: str, sandbox_url: str, database_url: str, db: Database) -> Settings:
    """Settings pointing at the test ledger (emptied for the test), Redis and sandbox (the
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
