"""`integrator devices ...`: register PoS devices and aggregators, and manage their keys.

A key is printed once, as the last line of `add` and `rotate-key`; only its hash is stored.
A webhook's signing secret is printed once, as the last line of `set-webhook`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from integrator.services import Services


def _services(ctx: click.Context) -> AbstractContextManager[Services]:
    from integrator.cli import command_services

    return command_services(ctx)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc) or type(exc).__name__)


@click.group()
def devices() -> None:
    """PoS devices and aggregators: add, list, revoke, rotate-key, set-webhook, clear-webhook."""


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
    """Create a device; its new key is the last line printed (shown once, never again). NAME is
    one word of letters, digits, '.', '_' or '-'; each tenant must be a city (or state) of
    DIGIT's MDMS tenant.tenants (read from its cached answer, else asked, else the shipped copy)."""
    from integrator.digit.errors import DigitError
    from integrator.payments.devices import (
        InvalidTenantScope,
        device_name_problem,
        normalise_scopes,
        unknown_scopes,
    )
    from integrator.store.devices import DeviceError

    problem = device_name_problem(name.strip())
    if problem is not None:
        raise click.BadParameter(f"{name!r}: {problem}", param_hint="NAME")
    try:
        scopes = normalise_scopes(tenants)
    except InvalidTenantScope as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from exc
    with _services(ctx) as services:
        unknown = unknown_scopes(scopes, (t.code for t in services.digit.known_tenants()))
        if unknown:  # the cached or shipped list may be behind DIGIT: ask MDMS before refusing
            try:
                known = [t.code for t in services.digit.tenants()]
            except (DigitError, OSError, ValueError) as exc:
                raise click.ClickException(
                    f"UNKNOWN_TENANT: {', '.join(unknown)} is not a tenant the integrator knows,"
                    f" and DIGIT's MDMS could not be asked ({exc}): try again later"
                ) from exc
            unknown = unknown_scopes(scopes, known)
        if unknown:
            raise click.BadParameter(
                f"UNKNOWN_TENANT: {', '.join(unknown)} is not a city or state of DIGIT's"
                " tenant.tenants (MDMS)",
                param_hint="--tenant",
            )
        try:
            device, key = services.devices.add(name, scopes)
        except (DeviceError, ValueError) as exc:
            raise _fail(exc) from exc
    click.echo(f"device {device.name} ({device.id}) for {', '.join(device.tenants)}")
    click.echo("its key, shown only now (send it as 'Authorization: Bearer <key>'):")
    click.echo(key)


@devices.command(name="list")
@click.pass_context
def list_devices(ctx: click.Context) -> None:
    """Every device: name, id, tenants, state (never a key)."""
    with _services(ctx) as services:
        found = services.devices.list()
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

    with _services(ctx) as services:
        try:
            device = services.devices.revoke(name)
        except DeviceError as exc:
            raise _fail(exc) from exc
    click.echo(f"device {device.name} revoked")


@devices.command(name="rotate-key")
@click.argument("name")
@click.pass_context
def rotate_key(ctx: click.Context, name: str) -> None:
    """A new key for the same device (its payments stay its own); the old key stops working."""
    from integrator.store.devices import DeviceError

    with _services(ctx) as services:
        try:
            key = services.devices.rotate_key(name)
        except DeviceError as exc:
            raise _fail(exc) from exc
    click.echo(f"device {name}: new key, shown only now:")
    click.echo(key)


@devices.command(name="set-webhook")
@click.argument("name")
@click.option("--url", required=True, help="Where to POST the device's events (https://).")
@click.pass_context
def set_webhook(ctx: click.Context, name: str, url: str) -> None:
    """POST the device's REGISTERED / NEEDS_ATTENTION events to URL, signed with a new secret
    (the last line printed, shown once; any previous secret stops signing at once)."""
    from integrator.store.devices import DeviceError, DeviceNotFound, DeviceRevoked
    from integrator.store.webhooks import UnknownDevice
    from integrator.webhooks.models import InvalidWebhookUrl

    with _services(ctx) as services:
        try:
            device = services.devices.get_by_name(name)
            if device is None:
                raise DeviceNotFound(name)
            if device.revoked:
                raise DeviceRevoked(name)
            endpoint = services.webhooks.set(device.id, url)
        except (DeviceError, InvalidWebhookUrl, UnknownDevice) as exc:
            raise _fail(exc) from exc
    click.echo(f"device {device.name}: webhooks go to {endpoint.url}")
    click.echo("its signing secret, shown only now (verify X-Integrator-Signature with it):")
    click.echo(endpoint.secret)


@devices.command(name="clear-webhook")
@click.argument("name")
@click.pass_context
def clear_webhook(ctx: click.Context, name: str) -> None:
    """Stop the device's webhooks (deliveries already queued are dropped when they run)."""
    from integrator.store.devices import DeviceNotFound

    with _services(ctx) as services:
        device = services.devices.get_by_name(name)
        if device is None:
            raise _fail(DeviceNotFound(name))
        had = services.webhooks.clear(device.id)
    click.echo(f"device {device.name}: " + ("webhook cleared" if had else "had no webhook"))
