"""The app factory: wiring, Services container, and refusing a Redis that could lose payments."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from integrator import logs
from integrator.app import create_app
from integrator.services import Services, services_of
from integrator.settings import Settings
from integrator.store.redis_conn import RedisDurabilityError, RedisUnavailableError
from tests.support.offline import offline_settings
from tests.support.processes import free_port, redis_server


def settings_for(redis_url: str, **env: str) -> Settings:
    return offline_settings(redis_url, password="factory-test-password", **env)


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def non_durable_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis-nd")), durable=False) as (url, _proc):
        yield url


def test_the_app_puts_its_services_in_extensions(redis_url: str) -> None:
    settings = settings_for(redis_url)
    app = create_app(settings)
    services = services_of(app)
    assert isinstance(services, Services)
    assert services.settings is settings
    assert services.redis.ping()
    assert not services.digit_built  # DIGIT is not touched at start-up


def test_the_configured_password_is_registered_as_a_secret(redis_url: str) -> None:
    create_app(settings_for(redis_url))
    assert "factory-test-password" not in logs.redact("login with factory-test-password")


def test_healthz_is_registered(redis_url: str) -> None:
    client = create_app(settings_for(redis_url)).test_client()
    assert client.get("/healthz").status_code == 200


def test_a_non_durable_redis_refuses_start_up_naming_the_setting(
    non_durable_redis_url: str,
) -> None:
    with pytest.raises(RedisDurabilityError) as refused:
        create_app(settings_for(non_durable_redis_url))
    message = str(refused.value)
    assert "appendfsync" in message
    assert "appendonly is 'no'" in message
    assert "REDIS_DURABILITY_OVERRIDE" in message


def test_the_override_starts_on_a_non_durable_redis_with_a_warning(
    non_durable_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="integrator.store.redis_conn"):
        app = create_app(settings_for(non_durable_redis_url, REDIS_DURABILITY_OVERRIDE="true"))
    assert app.test_client().get("/healthz").status_code == 200
    assert any("appendonly" in r.getMessage() for r in caplog.records)


def test_an_unreachable_redis_refuses_start_up_naming_redis_url() -> None:
    with pytest.raises(RedisUnavailableError, match="REDIS_URL"):
        create_app(settings_for(f"redis://127.0.0.1:{free_port()}/0"))


def test_importing_the_app_module_has_no_side_effects() -> None:
    import importlib
    import sys

    sys.modules.pop("integrator.app", None)
    root_handlers = list(logging.getLogger().handlers)
    importlib.import_module("integrator.app")
    assert logging.getLogger().handlers == root_handlers


def test_redis_client_answers_bytes_as_rq_needs(redis_url: str) -> None:
    app = create_app(settings_for(redis_url))
    client: redis_lib.Redis = services_of(app).redis
    client.set("integrator:test:bytes", "x", ex=5)
    assert client.get("integrator:test:bytes") == b"x"
