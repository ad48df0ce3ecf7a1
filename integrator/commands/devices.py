"""`integrator devices ...`: register PoS devices and aggregators, and manage their keys.

A key is printed once, as the last line of `add` and `rotate-key`; only its hash is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from integrator.store.devices import DeviceStore


@contextmanager
def _devices(ctx: click.Context) -> Iterator[DeviceStore]:
    from integrator.cli import load_settings, startup_errors
    from integrator.store import redis_conn

    settings = load_settings(ctx)
    with startup_errors():
        redis = redis_conn.connect(settings)
    try:
        yield DeviceStore(redis)
    finally:
        redis.close()


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc) or type(exc).__name__)


@click.group()
def devices() -> None:
    """PoS devices and aggregators: add, list, revoke, rotate-key."""


@devices.command()
@click.argument("name")
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    required=True,
    help="Tenant the device may act for (repeatable); a state (pb) covers all its cities.",
)
@click.pass_context
def add(ctx: click.Context, name: str, tenants: tuple[str, ...]) -> None:
    """Create a device; its new key is the last line printed (shown once, never again)."""
    from integrator.store.devices import DeviceError

    with _devices(ctx) as store:
        try:
            device, key = store.add(name, tenants)
        except (DeviceError, ValueError) as exc:
            raise _fail(exc) from exc
    click.echo(f"device {device.name} ({device.id}) for {', '.join(device.tenants)}")
    click.echo("its key, shown only now (send it as 'Authorization: Bearer <key>'):")
    click.echo(key)


@devices.command(name="list")
@click.pass_context
def list_devices(ctx: click.Context) -> None:
    """Every device: name, id, tenants, state (never a key)."""
    with _devices(ctx) as store:
        found = store.list()
    if not found:
        click.echo("no devices")
    for device in found:
        state = "revoked" if device.revoked else "active"
        click.echo(f"{device.name}\t{device.id}\t{','.join(device.tenants)}\t{state}")


@devices.command()
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke a device: its key stops working at once."""
    from integrator.store.devices import DeviceError

    with _devices(ctx) as store:
        try:
            device = store.revoke(name)
        except DeviceError as exc:
            raise _fail(exc) from exc
    click.echo(f"device {device.name} revoked")


@devices.command(name="rotate-key")
@click.argument("name")
@click.pass_context
def rotate_key(ctx: click.Context, name: str) -> None:
    """A new key for the same device (its payments stay its own); the old key stops working."""
    from integrator.store.devices import DeviceError

    with _devices(ctx) as store:
        try:
            key = store.rotate_key(name)
        except DeviceError as exc:
            raise _fail(exc) from exc
    click.echo(f"device {name}: new key, shown only now:")
    click.echo(key)
