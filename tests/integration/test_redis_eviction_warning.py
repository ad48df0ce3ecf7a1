"""Redis holds no money: start-up never refuses a Redis, it warns when Redis could evict jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
