"""`integrator reports ...`: reconciliation on demand, its flags, and the settlement report."""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime

import click

from integrator import jsonutil
from integrator.commands.identity import operator_options, signed_in_operator
from integrator.commands.params import Day, in_zone
from integrator.logs import redact
from integrator.ops.filters import tz_label


@click.group()
def reports() -> None:
    """Reconciliation against DIGIT and settlement reports."""


@reports.command()
@click.option(
    "--lookback-days",
    type=click.IntRange(min=0),
    default=None,
    help="Check REGISTERED payments accepted this many days back "
    "(default RECONCILE_LOOKBACK_DAYS).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Check at most N.")
@click.option(
    "--from",
    "first_day",
    type=Day(),
    default=None,
    help="Walk DIGIT's payments from this day (YYYY-MM-DD, in DIGIT_TIMEZONE) instead.",
)
@click.option(
    "--to",
    "last_day",
    type=Day(),
    default=None,
    help="... to this day, included (default: the --from day).",
)
@click.pass_context
def reconcile(
    ctx: click.Context,
    lookback_days: int | None,
    limit: int | None,
    first_day: datetime | None,
    last_day: datetime | None,
) -> None:
    """Re-check REGISTERED payments in DIGIT now; flag missing/cancelled ones. With --from
    [--to]: walk DIGIT's payments of those days instead, and flag what the ledger does not
    explain (orphans, duplicates, differences). Exit 1 when the run could not finish (DIGIT
    unavailable, a city not searchable)."""
    from integrator.cli import command_services
    from integrator.jobs.reconcile import ReconcileWiring, run_digit_walk, run_reconciliation

    if last_day is not None and first_day is None:
        raise click.UsageError("--to needs --from")
    if first_day is not None and (lookback_days is not None or limit is not None):
        raise click.UsageError(
            "--from/--to walk DIGIT's days; --lookback-days/--limit do not apply"
        )
    if first_day is not None and last_day is not None and last_day < first_day:
        raise click.UsageError("--to is before --from")
    with command_services(ctx) as services:
        wiring = ReconcileWiring.of_services(services)
        if first_day is not None:
            first = first_day.date()
            last = (last_day or first_day).date()
            walk = run_digit_walk(wiring, first=first, last=last)
            summary, finished = walk.summary(), walk.complete and not walk.unsearchable
        else:
            report = run_reconciliation(wiring, lookback_days=lookback_days, limit=limit)
            summary, finished = report.summary(), report.complete
        tz = services.settings.digit_timezone
    summary = {  # the zone every printed time is in (the epoch stays as it is)
        "timezone": tz_label(tz),
        **summary,
        "started_at": in_zone(summary.get("started_at"), tz),
        "finished_at": in_zone(summary.get("finished_at"), tz),
    }
    click.echo(jsonutil.dumps(summary, compact=False))
    if not finished:
        ctx.exit(1)


@reports.command()
@click.option(
    "--date",
    "day",
    required=True,
    type=Day(),
    help="The day (YYYY-MM-DD) in SETTLEMENT_TIMEZONE.",
)
@click.option("--device", default=None, help="Only this device (its name, or its id).")
@click.pass_context
def settlement(ctx: click.Context, day: datetime, device: str | None) -> None:
    """Write the day's settlement CSV (every device unless --device) to stdout: devices by
    name (a deviceName column after deviceId), times in DIGIT_TIMEZONE like the rest of the
    CLI and the console; the day is a calendar day in SETTLEMENT_TIMEZONE."""
    from dataclasses import replace

    from integrator.cli import command_services
    from integrator.payments.settlement import (
        CSV_COLUMNS,
        csv_record,
        iter_settlement_rows,
        with_offline_marks,
    )
    from integrator.store.payment_search import PaymentSearch

    with command_services(ctx) as services:
        settings = services.settings
        tz = settings.digit_timezone
        device_id = None
        if device is not None:
            found = services.devices.get_by_name(device) or services.devices.get(device)
            if found is None:
                raise click.BadParameter(f"no device named {device!r}", param_hint="--device")
            device_id = found.id
        click.echo(
            f"settlement of {day.date().isoformat()} in"
            f" {tz_label(settings.settlement_timezone, 'SETTLEMENT_TIMEZONE')};"
            f" times in {tz_label(tz)}",
            err=True,
        )
        names = PaymentSearch(services.db, services.payments_store)
        known: dict[str, str] = {}
        at = CSV_COLUMNS.index("deviceId") + 1
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow((*CSV_COLUMNS[:at], "deviceName", *CSV_COLUMNS[at:]))
        wanted: date = day.date()
        for row in with_offline_marks(
            iter_settlement_rows(
                services.payments_store, wanted, settings.settlement_timezone, device_id
            ),
            services.offline_store,
        ):
            if row.device_id not in known:
                known.update(names.device_names([row.device_id]))
            local = replace(
                row,
                collected_at=row.collected_at.astimezone(tz) if row.collected_at else None,
                accepted_at=row.accepted_at.astimezone(tz),
                registered_at=row.registered_at.astimezone(tz) if row.registered_at else None,
                reversed_at=row.reversed_at.astimezone(tz) if row.reversed_at else None,
                uploaded_at=row.uploaded_at.astimezone(tz) if row.uploaded_at else None,
            )
            cells = csv_record(local)
            writer.writerow((*cells[:at], known.get(row.device_id, ""), *cells[at:]))


@reports.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also the acknowledged ones.")
@click.pass_context
def flags(ctx: click.Context, show_all: bool) -> None:
    """List what reconciliation could not explain (unacknowledged first); `ack` one."""
    if ctx.invoked_subcommand is not None:
        return
    from integrator.cli import command_services

    with command_services(ctx) as services:
        items = services.flags.list(unacknowledged_only=not show_all)
    if not items:
        click.echo("no reconciliation flags" if show_all else "no unacknowledged flags")
        return
    for item in sorted(items, key=lambda i: i.acknowledged):
        where = "/".join(x for x in (item.tenant_id, item.business_service) if x)
        receipts = ",".join(item.receipt_numbers) or "-"
        amount = "-" if item.amount is None else str(item.amount)
        acked = (
            f" ACKNOWLEDGED by {item.acknowledged_by}: {redact(item.ack_note or '')}"
            if item.acknowledged
            else ""
        )
        click.echo(
            f"{item.id}\t{item.kind}\tpayment {item.payment_id}\tDIGIT"
            f" {item.digit_payment_id or '-'} {item.digit_status or ''}\t{where or '-'}"
            f"\tamount {amount}\treceipts {receipts}\tledger {item.ledger_status or 'none'}"
            f"\t{redact(item.why)}{acked}"
        )


@flags.command(name="ack")
@click.argument("flag_id")
@click.option("--note", required=True, help="What was decided or done (required).")
@operator_options
@click.pass_context
def ack(
    ctx: click.Context,
    flag_id: str,
    note: str,
    operator: str | None,
    operator_password: str | None,
) -> None:
    """Acknowledge flag FLAG_ID (a finding's number, or a flagged payment's id), signed in as
    an OPS_USERS operator (recorded with the flag)."""
    from integrator.cli import command_services, load_settings
    from integrator.payments.flags import FlagRefused

    settings = load_settings(ctx)
    account = signed_in_operator(settings, operator, operator_password)
    if not account.may_act:
        raise click.ClickException(f"{account.name} is a {account.role.value}: only an operator")
    with command_services(ctx) as services:
        try:
            item = services.flags.acknowledge(flag_id, operator=account.name, note=note)
        except FlagRefused as exc:
            click.echo(f"refused ({exc.code}): {exc.message}", err=True)
            ctx.exit(1)
    click.echo(f"acknowledged {item.id} ({item.kind}) by {item.acknowledged_by}")


@reports.command("day-close")
@click.option(
    "--date",
    "day",
    required=True,
    type=Day(),
    help="The day (YYYY-MM-DD) in SETTLEMENT_TIMEZONE.",
)
@click.option("--device", "device_name", default=None, help="A device, by name.")
@click.option("--tenant", default=None, help="A city (e.g. pb.amritsar) instead of a device.")
@click.option("--close", is_flag=True, help="Close the day: store its figures (once).")
@operator_options
@click.option("--format", "output", type=click.Choice(["json", "csv"]), default="json")
@click.pass_context
def day_close(
    ctx: click.Context,
    day: datetime,
    device_name: str | None,
    tenant: str | None,
    close: bool,
    operator: str | None,
    operator_password: str | None,
    output: str,
) -> None:
    """A device's or city's day: collected, cancelled, handed over, outstanding, by mode. With
    --close (a cashier's account) the figures are stored and the day can never be closed again
    (exit 1)."""
    from integrator.commands.cash import day_close as run

    run(ctx, day.date(), device_name, tenant, close, operator, operator_password, output)
