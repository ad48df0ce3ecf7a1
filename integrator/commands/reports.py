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
@click.option("--device", default=None, help="Only this device (its name, or its id).")
@click.pass_context
def settlement(ctx: click.Context, day: datetime, device: str | None) -> None:
    """Write the day's settlement CSV (every device unless --device) to stdout: devices by
    name (a deviceName column after deviceId), times in DIGIT_TIMEZONE like the rest of the
    CLI and the console; the day is a calendar day in SETTLEMENT_TIMEZONE."""
    from dataclasses import replace

    from integrator.cli import load_settings, startup_errors
    from integrator.ops.filters import tz_label
    from integrator.payments.settlement import CSV_COLUMNS, csv_record, iter_settlement_rows
    from integrator.services import Services
    from integrator.store.payment_search import PaymentSearch

    settings = load_settings(ctx)
    with startup_errors():
        services = Services.build(settings, pool_size=2)
    tz = settings.digit_timezone
    try:
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
        for row in iter_settlement_rows(
            services.payments_store, wanted, settings.settlement_timezone, device_id
        ):
            if row.device_id not in known:
                known.update(names.device_names([row.device_id]))
            local = replace(
                row,
                collected_at=row.collected_at.astimezone(tz) if row.collected_at else None,
                accepted_at=row.accepted_at.astimezone(tz),
                registered_at=row.registered_at.astimezone(tz) if row.registered_at else None,
            )
            cells = csv_record(local)
            writer.writerow((*cells[:at], known.get(row.device_id, ""), *cells[at:]))
    finally:
        services.close()
