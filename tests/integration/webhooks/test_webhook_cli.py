"""`integrator devices set-webhook / clear-webhook` against the real ledger and Redis."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import redis as redis_lib
from click.testing import CliRunner, Result

from integrator import cli
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.webhooks import WebhookStore
from tests.integration.webhooks.conftest import LOCAL_TARGETS
from tests.support.secrets_guard import SecretsGuard


def invoke(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args), obj=settings)


@pytest.fixture(autouse=True)
def _aggregator_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """hooks.aggregator.example resolves to a public address; other names as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.aggregator.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_set_webhook_stores_the_url_and_prints_a_new_secret_last_once(
    settings: Settings, db: Database, redis: redis_lib.Redis, secrets_guard: SecretsGuard
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator-1", ["pb"])
    result = invoke(
        settings,
        "devices",
        "set-webhook",
        "aggregator-1",
        "--url",
        "https://hooks.aggregator.example/digit",
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    secrets_guard.add(secret, "webhook-secret")
    stored = WebhookStore(db).get(device.id)
    assert stored is not None
    assert stored.url == "https://hooks.aggregator.example/digit" and stored.secret == secret
    assert secret not in invoke(settings, "devices", "list").output

    again = invoke(
        settings,
        "devices",
        "set-webhook",
        "aggregator-1",
        "--url",
        "https://hooks.aggregator.example/v2",
    )
    new_secret = again.output.strip().splitlines()[-1]
    secrets_guard.add(new_secret, "webhook-secret")
    assert new_secret != secret
    assert WebhookStore(db).get(device.id).secret == new_secret  # type: ignore[union-attr]


def test_plain_http_off_the_machine_unknown_and_revoked_devices_are_refused(
    settings: Settings, db: Database, redis: redis_lib.Redis
) -> None:
    devices = DeviceStore(db, redis)
    device, _key = devices.add("aggregator-2", ["pb"])
    refused = invoke(
        settings,
        "devices",
        "set-webhook",
        "aggregator-2",
        "--url",
        "http://hooks.aggregator.example/digit",
    )
    assert refused.exit_code != 0 and "https" in refused.output
    for internal in ("https://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/"):
        refused = invoke(settings, "devices", "set-webhook", "aggregator-2", "--url", internal)
        assert refused.exit_code != 0
        assert WebhookStore(db).get(device.id) is None
    unknown = invoke(
        settings,
        "devices",
        "set-webhook",
        "nobody",
        "--url",
        "https://hooks.aggregator.example/digit",
    )
    assert unknown.exit_code != 0
    devices.revoke("aggregator-2")
    revoked = invoke(
        settings,
        "devices",
        "set-webhook",
        "aggregator-2",
        "--url",
        "https://hooks.aggregator.example/digit",
    )
    assert revoked.exit_code != 0
    assert WebhookStore(db).get(device.id) is None


def test_clear_webhook_removes_it(
    settings: Settings, db: Database, redis: redis_lib.Redis, secrets_guard: SecretsGuard
) -> None:
    device, _key = DeviceStore(db, redis).add("aggregator-3", ["pb"])
    secrets_guard.add(
        WebhookStore(db, targets=LOCAL_TARGETS).set(device.id, "http://127.0.0.1:9/hook").secret,
        "webhook-secret",
    )
    result = invoke(settings, "devices", "clear-webhook", "aggregator-3")
    assert result.exit_code == 0 and "cleared" in result.output
    assert not WebhookStore(db).has(device.id)
    assert "had no webhook" in invoke(settings, "devices", "clear-webhook", "aggregator-3").output
