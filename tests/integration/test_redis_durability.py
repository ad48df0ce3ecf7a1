"""check_durability against real redis-servers: durable, not durable, CONFIG disabled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from integrator.store import redis_conn
from tests.support.processes import redis_server


@pytest.fixture(scope="module")
def non_durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_lib.Redis]:
    with redis_server(Path(tmp_path_factory.mktemp("redis-nd")), durable=False) as (url, _proc):
        client = redis_lib.Redis.from_url(url)
        yield client
        client.close()


def test_the_test_redis_is_durable(redis: redis_lib.Redis) -> None:
    assert redis_conn.check_durability(redis, override=False) == []


def test_every_missing_setting_is_named_with_its_current_value(
    non_durable: redis_lib.Redis,
) -> None:
    with pytest.raises(redis_conn.RedisDurabilityError) as refused:
        redis_conn.check_durability(non_durable, override=False)
    problems = refused.value.problems
    assert any(p.startswith("appendonly is 'no'") for p in problems)
    assert any(p.startswith("appendfsync is 'everysec'") for p in problems)
    assert not any(p.startswith("maxmemory-policy") for p in problems)


def test_an_eviction_policy_is_refused(non_durable: redis_lib.Redis) -> None:
    non_durable.config_set("maxmemory-policy", "allkeys-lru")
    try:
        problems = redis_conn.durability_problems(non_durable)
    finally:
        non_durable.config_set("maxmemory-policy", "noeviction")
    assert "maxmemory-policy is 'allkeys-lru' (must be 'noeviction')" in problems


def test_the_override_returns_the_problems_and_warns(
    non_durable: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="integrator.store.redis_conn"):
        problems = redis_conn.check_durability(non_durable, override=True)
    assert problems
    assert len([r for r in caplog.records if "REDIS_DURABILITY_OVERRIDE" in r.getMessage()]) == len(
        problems
    )


def test_a_redis_without_config_requires_the_override(tmp_path: Path) -> None:
    # managed Redis services often rename CONFIG away; emulate that with an ACL user without it
    with redis_server(tmp_path) as (url, _proc):
        admin = redis_lib.Redis.from_url(url)
        admin.acl_setuser(
            "app", enabled=True, passwords=["+app-pass"], keys=["*"], commands=["+@all", "-config"]
        )
        app_client = redis_lib.Redis.from_url(url, username="app", password="app-pass")
        try:
            with pytest.raises(redis_conn.RedisDurabilityError, match="CONFIG GET is not allowed"):
                redis_conn.check_durability(app_client, override=False)
            assert redis_conn.check_durability(app_client, override=True)
        finally:
            app_client.close()
            admin.close()


def test_readiness_write_expires(redis: redis_lib.Redis) -> None:
    redis_conn.check_writable(redis)
    (key,) = redis.keys(redis_conn.READINESS_KEY_PREFIX + "*")
    assert 0 < redis.pttl(key) <= redis_conn.READINESS_TTL_MS


def test_the_password_is_hidden_in_url_messages() -> None:
    assert redis_conn.safe_url("redis://:s3cret@host:6380/1") == "redis://:***@host:6380/1"
    assert redis_conn.safe_url("redis://u:s3cret@host/0") == "redis://u:***@host/0"
    assert redis_conn.safe_url("redis://host:6379/0") == "redis://host:6379/0"
