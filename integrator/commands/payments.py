"""`integrator payments ...`: find payments, show one with its history, retry, resolve.

The same use cases as the ops console (`integrator.payments.operations`); every action is
recorded in the payment's history as `operator:<--operator>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import click

from integrator import jsonutil
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.operations import (
    OperationRefused,
    PaymentOperations,
    PaymentQuery,
    Resolution,
)


@contextmanager
def _operations(ctx: click.Context) -> Iterator[PaymentOperations]:
    from integrator.cli import load_settings, startup_errors
    from integrator.ops.wiring import build_operations
    from integrator.services import Services

    settings = load_settings(ctx)
    with startup_errors():
        services = Services.build(settings, pool_size=2)
    try:
        yield build_operations(services)
    except OperationRefused as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    finally:
        services.close()


def _line(p: Payment) -> str:
    reason = p.needs_attention_reason or p.resolution or ""
    return "\t".join(
        (
            p.created_at.isoformat(timespec="seconds"),
            p.id,
            p.status.value,
            p.tenant_id,
            ",".join(f"{b.business_service}:{b.consumer_code}" for b in p.bills),
            str(p.total_amount),
            ",".join(p.receipt_numbers),
            reason,
        )
    )


def _filters(func: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--status", type=click.Choice([s.value for s in PaymentStatus], case_sensitive=False)
        ),
        click.option("--key", "idempotency_key", help="Idempotency key."),
        click.option("--bill", "bill_id", help="DIGIT bill id."),
        click.option("--consumer", "consumer_code", help="Consumer code."),
        click.option("--receipt", "receipt_number", help="DIGIT receipt number."),
        click.option("--mobile", "mobile_digits", help="Last 4+ digits of the payer's mobile."),
        click.option(
            "--from",
            "created_from",
            type=click.DateTime(["%Y-%m-%d"]),
            help="Created on or after this day (DIGIT's time zone).",
        ),
        click.option(
            "--to",
            "created_to",
            type=click.DateTime(["%Y-%m-%d"]),
            help="Created on or before this day (DIGIT's time zone).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(
    status: str | None, created_from: object, created_to: object, **criteria: str | None
) -> PaymentQuery:
    def day(value: object) -> date | None:
        return value.date() if hasattr(value, "date") else None

    return PaymentQuery(
        status=PaymentStatus(status.upper()) if status else None,
        created_from=day(created_from),
        created_to=day(created_to),
        **criteria,
    )


@click.group()
def payments() -> None:
    """Payments: list, show, retry, resolve."""


@payments.command(name="list")
@_filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--cursor", help="The cursor printed after the previous page.")
@click.pass_context
def list_payments(
    ctx: click.Context,
    /,
    status: str | None,
    created_from: object,
    created_to: object,
    limit: int,
    cursor: str | None,
    **criteria: str | None,
) -> None:
    """Payments newest first (tab-separated), filtered; prints the next page's cursor."""
    query = _query(status, created_from, created_to, **criteria)
    with _operations(ctx) as ops:
        page = ops.finder.find(query, cursor=cursor, limit=limit)
    for payment in page.payments:
        click.echo(_line(payment))
    if not page.payments:
        click.echo("no payments", err=True)
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


@payments.command()
@click.argument("payment_id")
@click.pass_context
def show(ctx: click.Context, payment_id: str) -> None:
    """One payment and its whole history, as JSON."""
    from integrator.store.codec import payment_to_dict

    with _operations(ctx) as ops:
        payment = ops.get(payment_id)
    click.echo(jsonutil.dumps(payment_to_dict(payment), compact=False))


@payments.command()
@click.argument("payment_ids", nargs=-1)
@click.option(
    "--all-needs-attention",
    "all_matching",
    is_flag=True,
    help="Retry every NEEDS_ATTENTION payment matching the filters.",
)
@_filters
@click.option("--operator", required=True, help="Your name: recorded in each payment's history.")
@click.pass_context
def retry(
    ctx: click.Context,
    /,
    payment_ids: tuple[str, ...],
    all_matching: bool,
    status: str | None,
    created_from: object,
    created_to: object,
    operator: str,
    **criteria: str | None,
) -> None:
    """Register now: PENDING is scheduled at once; NEEDS_ATTENTION goes back to PENDING."""
    if bool(payment_ids) == all_matching:
        raise click.UsageError("give payment ids, or --all-needs-attention with filters")
    with _operations(ctx) as ops:
        if all_matching:
            query = _query(status, created_from, created_to, **criteria)
            summary = ops.retry_matching(query, operator=operator)
            for pid in summary.retried:
                click.echo(f"{pid}\tretried")
            for pid, code in summary.refused.items():
                click.echo(f"{pid}\trefused {code}")
            click.echo(f"retried {len(summary.retried)}, refused {len(summary.refused)}", err=True)
            return
        failed = False
        for pid in payment_ids:
            try:
                done = ops.retry(pid, operator=operator)
            except OperationRefused as exc:
                failed = True
                click.echo(f"{pid}\trefused {exc.code}: {exc.message}", err=True)
            else:
                click.echo(f"{pid}\t{done.status.value}\tscheduled now")
    if failed:
        ctx.exit(1)


@payments.command()
@click.argument("payment_id")
@click.option(
    "--as",
    "resolution",
    required=True,
    type=click.Choice([r.value for r in Resolution], case_sensitive=False),
)
@click.option(
    "--receipt",
    "receipt_number",
    help="DIGIT's receipt number (RECEIPTED_BY_HAND; verified in DIGIT).",
)
@click.option("--note", required=True, help="What was done (kept in the history).")
@click.option("--operator", required=True, help="Your name: recorded in the payment's history.")
@click.pass_context
def resolve(
    ctx: click.Context,
    payment_id: str,
    resolution: str,
    receipt_number: str | None,
    note: str,
    operator: str,
) -> None:
    """Close a NEEDS_ATTENTION payment as RESOLVED, after checking DIGIT agrees."""
    with _operations(ctx) as ops:
        done = ops.resolve(
            payment_id,
            operator=operator,
            resolution=Resolution(resolution.upper()),
            note=note,
            receipt_number=receipt_number,
        )
    click.echo(f"{done.id}\t{done.status.value}\t{done.resolution}")


# Reversals live in their own module; they are subcommands of `integrator payments`.
from integrator.commands.cancellations import cancel, cancellation  # noqa: E402

payments.add_command(cancel)
payments.add_command(cancellation)
