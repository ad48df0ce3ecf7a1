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
    from integrator.digit.client import DigitClient
    from integrator.jobs.reconcile import run_reconciliation
    from integrator.store import redis_conn

    settings = load_settings(ctx)
    with startup_errors():
        redis = redis_conn.connect(settings)
    try:
        report = run_reconciliation(
            settings=settings,
            redis=redis,
            digit=DigitClient(settings=settings, redis=redis),
            lookback_days=lookback_days,
            limit=limit,
        )
    finally:
        redis.close()
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
    from integrator.store import redis_conn
    from integrator.store.payments import PaymentStore

    settings = load_settings(ctx)
    with startup_errors():
        redis = redis_conn.connect(settings)
    try:
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        wanted: date = day.date()
        for row in iter_settlement_rows(
            PaymentStore(redis), wanted, settings.settlement_timezone, device_id
        ):
            writer.writerow(csv_record(row))
    finally:
        redis.close()
