"""`integrator payments ...`: find payments, show one with its history, retry, resolve.

The same use cases as the ops console, through the same audited desk (`integrator.ops.desk`):
every action, done or refused, is recorded with the ops account that asked for it (an OPS_USERS
account, see `commands/identity.py`). Times are shown, and `--from/--to` read, in one zone:
DIGIT_TIMEZONE, named in every output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import click

from integrator import jsonutil
from integrator.commands.identity import operator_options, signed_in_operator
from integrator.commands.params import in_zone
from integrator.logs import redact, redact_value
from integrator.masking import mask_mobile
from integrator.ops.desk import BULK_LIMIT, OperatorDesk
from integrator.ops.filters import MAX_PAGE, BadFilter, Paging, filter_from, local, tz_label
from integrator.payments.bulk import CLAIM_REFUSALS, retry_refusal
from integrator.payments.models import Payment, PaymentMode, PaymentStatus
from integrator.payments.operations import OperationRefused, Resolution
from integrator.services import Services
from integrator.store.payment_search import PaymentSearch


@dataclass(frozen=True, kw_only=True)
class _Tools:
    services: Services
    desk: OperatorDesk
    search: PaymentSearch
    tz: tzinfo


@contextmanager
def _tools(ctx: click.Context) -> Iterator[_Tools]:
    from integrator.cli import command_services
    from integrator.ops.wiring import build_desk, build_search

    with command_services(ctx) as services:
        try:
            yield _Tools(
                services=services,
                desk=build_desk(services, via="cli"),
                search=build_search(services),
                tz=services.settings.digit_timezone,
            )
        except OperationRefused as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc


def _acting(tools: _Tools, name: str | None, password: str | None, action: str) -> str:
    """The signed-in operator's name; a viewer is refused, and the refusal recorded."""
    account = signed_in_operator(tools.services.settings, name, password)
    if not account.may_act:
        tools.desk.refused(
            account.name,
            action,
            payment_id=None,
            code="ROLE_MAY_NOT_ACT",
            message=f"role {account.role.value} may look but not act",
        )
        raise click.ClickException(f"{account.name} is a {account.role.value}: may look, not act")
    return account.name


def _line(p: Payment, names: dict[str, str], tz: tzinfo) -> str:
    reason = p.needs_attention_reason or (f"resolved: {p.resolution}" if p.resolution else "")
    return "\t".join(
        (
            local(p.created_at, tz),
            p.id,
            p.status.value,
            p.tenant_id,
            names.get(p.device_id, p.device_id),
            p.payment_mode,
            ",".join(f"{b.business_service}:{b.consumer_code}" for b in p.bills),
            str(p.total_amount),
            ",".join(p.receipt_numbers),
            reason,
        )
    )


LIST_HEADER = "created\tpayment\tstatus\ttenant\tdevice\tmode\tbills\tamount\treceipts\treason"

#: CLI option -> the console form's field of the same filter.
_FIELDS = {
    "status": "status",
    "reason": "reason",
    "tenant": "tenant",
    "service": "service",
    "device": "device",
    "mode": "mode",
    "idempotency_key": "key",
    "bill_id": "bill",
    "consumer_code": "consumer",
    "receipt_number": "receipt",
    "mobile_digits": "mobile",
    "created_from": "from",
    "created_to": "to",
}


def _filters(func: Any) -> Any:
    options = [
        click.option(
            "--status", type=click.Choice([s.value for s in PaymentStatus], case_sensitive=False)
        ),
        click.option("--reason", help="NEEDS_ATTENTION reason, or a RESOLVED one's resolution."),
        click.option("--tenant", help="City (pb.amritsar) or state (pb: all its cities)."),
        click.option("--service", help="Business service of any of its bills (WS, PT, ...)."),
        click.option("--device", help="Device name."),
        click.option(
            "--mode", type=click.Choice([m.value for m in PaymentMode], case_sensitive=False)
        ),
        click.option("--key", "idempotency_key", help="Idempotency key."),
        click.option("--bill", "bill_id", help="DIGIT bill id."),
        click.option("--consumer", "consumer_code", help="Consumer code."),
        click.option("--receipt", "receipt_number", help="DIGIT receipt number."),
        click.option("--mobile", "mobile_digits", help="Last 4+ digits of the payer's mobile."),
        click.option(
            "--from",
            "created_from",
            metavar="YYYY-MM-DD",
            help="Created on or after this day, in DIGIT_TIMEZONE (the zone times are shown in).",
        ),
        click.option(
            "--to",
            "created_to",
            metavar="YYYY-MM-DD",
            help="Created on or before this day, in DIGIT_TIMEZONE.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filter(tools: _Tools, criteria: dict[str, Any]) -> Any:
    form = {_FIELDS[k]: str(v) for k, v in criteria.items() if k in _FIELDS and v}
    try:
        return filter_from(form, tools.tz)
    except BadFilter as exc:
        raise click.BadParameter(str(exc)) from exc


@click.group()
def payments() -> None:
    """Payments: list, show, retry, resolve."""


@payments.command(name="list")
@_filters
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, MAX_PAGE))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def list_payments(ctx: click.Context, /, page: int, limit: int, **criteria: Any) -> None:
    """Payments newest first (tab-separated, with a header), filtered; says how many match
    and how to reach the other pages."""
    with _tools(ctx) as tools:
        wanted = _filter(tools, criteria)
        paging = Paging(page=page, total=tools.search.count(wanted), size=limit)
        found = tools.search.page(wanted, offset=paging.offset, limit=limit)
        names = tools.search.device_names([p.device_id for p in found])
    click.echo(LIST_HEADER)
    for payment in found:
        click.echo(_line(payment, names, tools.tz))
    click.echo(
        f"{paging.total} payments match; page {paging.page} of {paging.pages};"
        f" times in {tz_label(tools.tz)}",
        err=True,
    )
    if paging.newer:
        click.echo(f"newer: --page {paging.newer}", err=True)
    if paging.older:
        click.echo(f"older: --page {paging.older}", err=True)


def _readable(p: Payment, names: dict[str, str], tz: tzinfo) -> list[str]:
    def when(moment: datetime | None) -> str:
        return local(moment, tz) if moment else "-"

    lines = [
        f"Payment {p.id}  {p.status.value}",
        f"  times in     {tz_label(tz)}",
        f"  city         {p.tenant_id}",
        f"  device       {names.get(p.device_id, p.device_id)}",
        f"  key          {p.idempotency_key}",
        f"  created      {when(p.created_at)}",
        f"  collected    {when(p.collected_at)}",
        f"  registered   {when(p.registered_at)}",
        f"  mode         {p.payment_mode}"
        + (f"  instrument {p.instrument_number}" if p.instrument_number else "")
        + (f"  txn {p.transaction_number}" if p.transaction_number else ""),
        f"  paid by      {p.paid_by}"
        + (f"  mobile {mask_mobile(p.mobile_number)}" if p.mobile_number else ""),
        f"  total        {p.total_amount}",
        f"  attempts     {p.attempts}" + ("  (a create was sent)" if p.create_sent else ""),
    ]
    if p.needs_attention_reason:
        lines.append(f"  needs attention because {p.needs_attention_reason}")
        refusal = retry_refusal(p)
        if refusal:
            lines.append(f"  retry not offered: {refusal[1]}")
    if p.resolution:
        lines.append(f"  resolved as  {p.resolution}")
    if p.last_error:
        lines.append(f"  last error   {redact(p.last_error)}")
    if p.digit_payment_id:
        lines.append(f"  DIGIT payment {p.digit_payment_id}")
    lines.append("Bills")
    for b in p.bills:
        lines.append(
            f"  {b.business_service} {b.consumer_code}  bill {b.bill_id}  amount {b.amount}"
            f"  due {b.total_due}  receipt {b.receipt_number or '-'}"
        )
    lines.append("History")
    for h in p.history:
        status = f"{h.from_status or ''} -> {h.to_status}" if h.to_status else ""
        codes = f" [{', '.join(h.codes)}]" if h.codes else ""
        repeat = f" x{h.count}" if h.count > 1 else ""
        reason = redact(h.reason or "")  # free text: a cancellation's reason, an operator's note
        lines.append(f"  {when(h.at)}  {h.actor}  {h.event}  {status}  {reason}{codes}{repeat}")
    return lines


@payments.command()
@click.argument("payment_id")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON (for machines).")
@click.pass_context
def show(ctx: click.Context, payment_id: str, as_json: bool) -> None:
    """One payment and its whole history, readable (mobile numbers masked)."""
    from integrator.store.codec import payment_to_dict

    with _tools(ctx) as tools:
        payment = tools.desk.operations.get(payment_id)
        names = tools.search.device_names([payment.device_id])
        actions = tools.desk.audit.for_payment(payment_id)
    if as_json:
        # free text (history reasons, notes, DIGIT's errors) redacted as in the logs
        record = redact_value(payment_to_dict(payment))
        record["mobile_number"] = mask_mobile(payment.mobile_number) or None
        record["device_name"] = names.get(payment.device_id)
        # the zone every printed time is in: the record's own times, and its history's
        record["timezone"] = tz_label(tools.tz)
        for name in ("collected_at", "created_at", "registered_at"):
            record[name] = in_zone(record.get(name), tools.tz)
        for entry in record.get("history", []):
            entry["at"] = in_zone(entry.get("at"), tools.tz)
            entry["last_at"] = in_zone(entry.get("last_at"), tools.tz)
        click.echo(jsonutil.dumps(record, compact=False))
        return
    for line in _readable(payment, names, tools.tz):
        click.echo(line)
    if actions:
        click.echo("Operator actions")
        for a in actions:
            why = f"  {a.code}: {redact(a.message or '')}" if a.code else ""
            click.echo(
                f"  {local(a.at, tools.tz)}  {a.operator} ({a.via})  {a.action}  {a.outcome}{why}"
            )


@payments.command()
@click.argument("payment_ids", nargs=-1)
@click.option(
    "--all-needs-attention",
    "all_matching",
    is_flag=True,
    help="Retry every NEEDS_ATTENTION payment matching the filters.",
)
@_filters
@click.option("--dry-run", is_flag=True, help="Show what would be retried; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@operator_options
@click.pass_context
def retry(
    ctx: click.Context,
    /,
    payment_ids: tuple[str, ...],
    all_matching: bool,
    dry_run: bool,
    yes: bool,
    operator: str | None,
    operator_password: str | None,
    **criteria: Any,
) -> None:
    """Register now: PENDING is scheduled at once; NEEDS_ATTENTION goes back to PENDING.
    Shows how many would be retried (and a sample) and asks, unless --yes; reasons a retry
    cannot change (BILL_PAID_ELSEWHERE, ...) are skipped and said why."""
    if bool(payment_ids) == all_matching:
        raise click.UsageError("give payment ids, or --all-needs-attention with filters")
    with _tools(ctx) as tools:
        name = _acting(tools, operator, operator_password, "retry")
        ids = list(payment_ids)
        if all_matching:
            criteria["status"] = PaymentStatus.NEEDS_ATTENTION.value
            ids = tools.search.ids(_filter(tools, criteria), offset=0, limit=BULK_LIMIT)
        # by status and reason, and what the ledger would refuse now (a bill or consumer
        # another payment holds), read-only: a dry run says what the real run skips
        plan = tools.desk.plan_retry(ids)
        planned_skips = dict(plan.skipped)
        click.echo(
            f"{len(plan.eligible)} to retry, {len(planned_skips)} skipped"
            f" (times in {tz_label(tools.tz)})",
            err=True,
        )
        for p in plan.sample:
            click.echo(
                f"  {local(p.created_at, tools.tz)}  {p.id}  {p.status.value}  {p.tenant_id}"
                f"  {p.total_amount}  {p.needs_attention_reason or ''}",
                err=True,
            )
        if len(plan.eligible) > len(plan.sample):
            click.echo(f"  ... and {len(plan.eligible) - len(plan.sample)} more", err=True)
        for pid, (code, why) in planned_skips.items():
            click.echo(f"{pid}\tskipped {code}: {why}", err=True)
        if dry_run:
            click.echo("dry run: nothing changed", err=True)
            if planned_skips and not plan.eligible:
                ctx.exit(1)
            return
        # refused as the real retry would be (a bill or consumer another payment holds): audited
        held = {pid: why for pid, why in planned_skips.items() if why[0] in CLAIM_REFUSALS}
        for pid, (code, why) in held.items():
            tools.desk.refused(name, "retry", payment_id=pid, code=code, message=why)
        if not plan.eligible and not held:
            click.echo("nothing to retry", err=True)
            if planned_skips:
                ctx.exit(1)
            return
        if plan.eligible and not yes:
            click.confirm(f"Retry {len(plan.eligible)} payments?", abort=True, err=True)
        result = tools.desk.retry_many([p.id for p in plan.eligible], operator=name)
    for pid in result.acted:
        click.echo(f"{pid}\tretried")
    for pid, code in result.skipped.items():
        click.echo(f"{pid}\tskipped {code}")
    skipped = {**{pid: code for pid, (code, _) in planned_skips.items()}, **result.skipped}
    total = f"retried {len(result.acted)}, skipped {len(skipped)}"
    if skipped:
        by_code: dict[str, int] = {}
        for code in skipped.values():
            by_code[code] = by_code.get(code, 0) + 1
        total += " (" + ", ".join(f"{c}: {n}" for c, n in sorted(by_code.items())) + ")"
    click.echo(total, err=True)
    if skipped and not all_matching:
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
    "receipt_numbers",
    multiple=True,
    help="DIGIT's receipt number (RECEIPTED_BY_HAND; verified in DIGIT). One receipt stands for"
    " the whole DIGIT payment it belongs to; repeat it for each DIGIT payment that paid the bills.",
)
@click.option("--note", required=True, help="What was done (kept in the history).")
@operator_options
@click.pass_context
def resolve(
    ctx: click.Context,
    payment_id: str,
    resolution: str,
    receipt_numbers: tuple[str, ...],
    note: str,
    operator: str | None,
    operator_password: str | None,
) -> None:
    """Close a NEEDS_ATTENTION payment as RESOLVED, after checking DIGIT agrees."""
    with _tools(ctx) as tools:
        name = _acting(tools, operator, operator_password, "resolve")
        done = tools.desk.resolve(
            payment_id,
            operator=name,
            resolution=Resolution(resolution.upper()),
            note=note,
            receipt_number=", ".join(receipt_numbers) or None,
        )
    click.echo(f"{done.id}\t{done.status.value}\t{done.resolution}")


# Reversals live in their own module; they are subcommands of `integrator payments`.
from integrator.commands.cancellations import cancel, cancellation  # noqa: E402

payments.add_command(cancel)
payments.add_command(cancellation)
