"""`integrator devices ...` against a real Redis, checked through the PoS API over HTTP."""

from __future__ import annotations

import requests
from click.testing import CliRunner

from integrator import cli
from integrator.services import Services
from integrator.settings import Settings


def run(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(cli.main, list(args), obj=settings)
    assert result.exit_code == 0, result.output
    return result.output


def new_key(settings: Settings, name: str) -> str:
    return run(settings, "devices", "add", name, "--tenant", "pb").strip().splitlines()[-1]


def bills_status(live: str, key: str) -> int:
    return requests.get(
        f"{live}/v1/bills",
        params={
            "tenantId": "pb.amritsar",
            "businessService": "TL",
            "consumerCode": "PB-TL-2024-07-04-002271",
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).status_code


def test_add_prints_a_working_key_last_and_stores_only_its_hash(
    e2e_settings: Settings, live: str, services: Services
) -> None:
    output = run(e2e_settings, "devices", "add", "counter-7", "--tenant", "pb.amritsar")
    key = output.strip().splitlines()[-1]

    assert len(key) >= 43  # 32 random bytes, URL-safe base64
    assert bills_status(live, key) == 200
    assert bills_status(live, key + "x") == 401
    for redis_key in services.redis.scan_iter("*"):
        if services.redis.type(redis_key) == b"string":
            assert key.encode() not in (services.redis.get(redis_key) or b"")
    listed = run(e2e_settings, "devices", "list")
    assert "counter-7" in listed and "pb.amritsar" in listed and key not in listed


def test_revoked_key_is_refused_at_once(e2e_settings: Settings, live: str) -> None:
    key = new_key(e2e_settings, "counter-8")
    run(e2e_settings, "devices", "revoke", "counter-8")
    assert bills_status(live, key) == 401
    assert "revoked" in run(e2e_settings, "devices", "list")


def test_rotated_key_keeps_the_device_and_drops_the_old_key(
    e2e_settings: Settings, live: str, services: Services
) -> None:
    old = new_key(e2e_settings, "counter-9")
    device_id = services.devices.authenticate(old).id  # type: ignore[union-attr]

    new = run(e2e_settings, "devices", "rotate-key", "counter-9").strip().splitlines()[-1]

    assert bills_status(live, old) == 401
    assert bills_status(live, new) == 200
    assert services.devices.authenticate(new).id == device_id  # type: ignore[union-attr]


def test_a_tenant_outside_every_scope_is_refused_by_the_cli(e2e_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli.main, ["devices", "add", "bad", "--tenant", "not a tenant"], obj=e2e_settings
    )
    assert result.exit_code != 0
    assert "tenant" in result.output.lower()
