"""The app factory: wiring, the Services container, and refusing a ledger whose schema is behind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from integrator import logs
from integrator.app import create_app
from integrator.services import Services, services_of
from integrator.settings import Settings
from integrator.store.migrations import SchemaBehind, head_revision
from integrator.store.redis_conn import RedisUnavailableError
from tests.support.offline import offline_settings
from tests.support.processes import free_port

DATABASE_URL = ""  # set by the autouse fixture below


@pytest.fixture(autouse=True)
def _ledger(database_url: str) -> None:
    global DATABASE_URL
    DATABASE_URL = database_url


def settings_for(redis_url: str, **env: str) -> Settings:
    return offline_settings(
        redis_url, password="factory-test-password", database_url=DATABASE_URL, **env
    )


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


def test_a_ledger_schema_behind_the_code_refuses_start_up_naming_the_command(
    redis_url: str, database_url: str
) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'older'")
    try:
        with pytest.raises(SchemaBehind, match="integrator db upgrade"):
            create_app(settings_for(redis_url))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))


def test_an_unreachable_ledger_refuses_start_up(redis_url: str) -> None:
    settings = settings_for(redis_url).with_changes(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    )
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        create_app(settings)


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


def test_a_device_requests_admission_goes_through_the_redis_batcher(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings_for(redis_url))
    services = services_of(app)
    _device, key = services.devices.add("batched-counter", ["pb.amritsar"])
    batcher = services.redis_batcher
    sent: list[int] = []
    real_script = batcher.script

    def counted(script: Any, *, keys: Any, args: Any) -> Any:
        sent.append(len(keys))
        return real_script(script, keys=keys, args=args)

    monkeypatch.setattr(batcher, "script", counted)
    answer = app.test_client().get(
        "/v1/payments/PAY-none", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 404  # admitted, then not found
    assert sent == [2]  # one admission: the device cache and its generation
