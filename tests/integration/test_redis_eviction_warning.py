"""Redis holds no money: start-up never refuses a Redis, it warns when Redis could evict jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import redis as redis_lib

from integrator.store import redis_conn
from tests.support.processes import redis_server


@pytest.fixture(scope="module")
def plain_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_lib.Redis]:
    with redis_server(Path(tmp_path_factory.mktemp("redis-plain")), durable=False) as (url, _p):
        client = redis_lib.Redis.from_url(url)
        yield client
        client.close()


def test_a_redis_without_an_append_only_file_is_fine_now(plain_redis: redis_lib.Redis) -> None:
    assert redis_conn.eviction_warnings(plain_redis) == []


def test_an_evicting_policy_is_named_in_a_warning(
    plain_redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    plain_redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level(logging.WARNING, logger="integrator.store.redis_conn"):
            warnings = redis_conn.warn_if_evicting(plain_redis)
    finally:
        plain_redis.config_set("maxmemory-policy", "noeviction")
    assert len(warnings) == 1 and "'allkeys-lru'" in warnings[0]
    assert any("maxmemory-policy" in r.getMessage() for r in caplog.records)


def test_new_connections_announce_us_without_reading_package_metadata(
    plain_redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool opens connections on the request path at each new peak of concurrency: redis-py's
    # default would read its version from the installed metadata on disk for every one.
    where = plain_redis.get_connection_kwargs()
    client = redis_conn.client_for(f"redis://{where['host']}:{where['port']}/0")
    looked_up: list[str] = []
    monkeypatch.setattr("redis.utils.get_lib_version", lambda: looked_up.append("x") or "0")
    pool = client.connection_pool
    connections = [pool.get_connection() for _ in range(3)]
    try:
        for conn in connections:
            conn.send_command("PING")
            assert conn.read_response() in (b"PONG", "PONG")
    finally:
        for conn in connections:
            pool.release(conn)
        client.close()
    assert looked_up == []
    version = tuple(int(p) for p in str(plain_redis.info("server")["redis_version"]).split("."))
    if version >= (7, 2):  # CLIENT SETINFO is new in 7.2; older servers refuse it (ignored)
        libs = {c.get("lib-name") for c in plain_redis.client_list()}
        assert f"redis-py(digit-integrator_v{metadata.version('integrator')})" in libs
