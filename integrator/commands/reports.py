"""`integrator reports ...`: reconciliation on demand and the settlement report for ops."""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime

import click

from integrator import jsonutil


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
@click.pass_context
def reconcile(ctx: click.Context, lookback_days: int | None, limit: int | None) -> None:
    """Re-check REGISTERED payments in DIGIT now; flag missing/cancelled ones. Exit 1 when the
    run could not finish (DIGIT unavailable)."""
    from integrator.cli import load_settings, startup_errors
    from integrator.jobs.reconcile import run_reconciliation
    from integrator.services import Services

    settings = load_settings(ctx)
    with startup_errors():
        services = Services.build(settings, pool_size=2)
    try:
        report = run_reconciliation(
            settings=settings,
            redis=services.redis,
            db=services.db,
            payments=services.payments_store,
            digit=services.digit,
            lookback_days=lookback_days,
            limit=limit,
        )
    finally:
        services.close()
    click.echo(jsonutil.dumps(report.summary(), compact=False))
    if not report.complete:
        ctx.exit(1)


@reports.command()
@click.option(
    "--date",
    "day",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day (YYYY-MM-DD) in SETTLEMENT_TIMEZONE.",
)
@click.option("--device", "device_id", default=None, help="Only this device id.")
@click.pass_context
def settlement(ctx: click.Context, day: datetime, device_id: str | None) -> None:
    """Write the day's settlement CSV (every device unless --device) to stdout."""
    from integrator.cli import load_settings, startup_errors
    from integrator.payments.settlement import CSV_COLUMNS, csv_record, iter_settlement_rows
    from integrator.services import Services

    settings = load_settings(ctx)
    with startup_errors():
        services = Services.build(settings, pool_size=2)
    try:
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        wanted: date = day.date()
        for row in iter_settlement_rows(
            services.payments_store, wanted, settings.settlement_timezone, device_id
        ):
            writer.writerow(csv_record(row))
    finally:
        services.close()


@reports.command("day-close")
@click.option(
    "--date",
    "day",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day (YYYY-MM-DD) in SETTLEMENT_TIMEZONE.",
)
@click.option("--device", "device_name", default=None, help="A device, by name.")
@click.option("--tenant", default=None, help="A city (e.g. pb.amritsar) instead of a device.")
@click.option("--close", is_flag=True, help="Close the day: store its figures (once).")
@click.option("--by", "closed_by", default="cli", help="Who closes it (recorded).")
@click.option("--format", "output", type=click.Choice(["json", "csv"]), default="json")
@click.pass_context
def day_close(
    ctx: click.Context,
    day: datetime,
    device_name: str | None,
    tenant: str | None,
    close: bool,
    closed_by: str,
    output: str,
) -> None:
    """A device's or city's day: collected, cancelled, handed over, outstanding, by mode. With
    --close the figures are stored and the day can never be closed again (exit 1)."""
    from integrator.commands.cash import day_close as run

    run(ctx, day.date(), device_name, tenant, close, closed_by, output)
