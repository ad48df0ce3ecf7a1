"""`integrator payments cancel` and `integrator payments cancellation ...`: reversals, two people.

The operator is an OPS_USERS account (`--operator NAME`, the same accounts as the ops console):
an unknown name is refused, a viewer may list and show but not ask, approve or reject. The
requester of a cancellation cannot approve or reject it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from integrator import jsonutil
from integrator.payments.cancellation import CancellationRefused, Cancellations
from integrator.payments.cancellation_records import (
    Action,
    CancellationRequest,
    Operator,
    RequestState,
)


@contextmanager
def _cancellations(ctx: click.Context) -> Iterator[tuple[Cancellations, dict[str, Operator]]]:
    from integrator.cli import load_settings, startup_errors
    from integrator.ops.accounts import parse_accounts
    from integrator.services import Services

    settings = load_settings(ctx)
    with startup_errors():
        accounts = parse_accounts(settings.ops_users)
        services = Services.build(settings, pool_size=2)
    operators = {
        name: Operator(name=name, may_act=account.may_act) for name, account in accounts.items()
    }
    try:
        yield services.cancellations, operators
    except CancellationRefused as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    finally:
        services.close()


def _operator(operators: dict[str, Operator], name: str) -> Operator:
    found = operators.get(name)
    if found is None:
        raise click.ClickException(f"{name} is not an ops account (OPS_USERS)")
    return found


def _line(r: CancellationRequest) -> str:
    codes = ",".join(r.digit_codes)
    return "\t".join(
        (
            r.requested_at.isoformat(timespec="seconds"),
            r.id,
            r.payment_id,
            r.action.value,
            r.state.value,
            r.requested_by,
            r.decided_by or "",
            codes,
            r.reason,
        )
    )


@click.command()
@click.argument("payment_id")
@click.option("--reason", required=True, help="Why (kept in the history, sent to DIGIT).")
@click.option(
    "--dishonour",
    is_flag=True,
    help="The cheque/DD bounced: ask for DISHONOUR instead of CANCEL.",
)
@click.option("--operator", required=True, help="Your OPS_USERS account name.")
@click.pass_context
def cancel(
    ctx: click.Context, payment_id: str, reason: str, dishonour: bool, operator: str
) -> None:
    """Ask for a REGISTERED payment to be cancelled (or dishonoured) in DIGIT; another operator
    approves it with `integrator payments cancellation approve`."""
    action = Action.DISHONOUR if dishonour else Action.CANCEL
    with _cancellations(ctx) as (cancellations, operators):
        made = cancellations.request_by_operator(
            operator=_operator(operators, operator),
            payment_id=payment_id,
            reason=reason,
            action=action,
        )
    click.echo(f"{made.id}\t{made.payment_id}\t{made.action.value}\t{made.state.value}")
    click.echo("another operator approves it: integrator payments cancellation approve", err=True)


@click.group()
def cancellation() -> None:
    """Cancellation requests: list, show, approve, reject."""


@cancellation.command(name="list")
@click.option(
    "--state",
    type=click.Choice([s.value for s in RequestState], case_sensitive=False),
    help="Only requests in this state (REQUESTED: waiting for approval).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def list_requests(ctx: click.Context, state: str | None, limit: int) -> None:
    """Requests newest first (tab-separated)."""
    states = [RequestState(state.upper())] if state else []
    with _cancellations(ctx) as (cancellations, _operators):
        found = cancellations.recent(states=states, limit=limit)
    for request in found:
        click.echo(_line(request))
    if not found:
        click.echo("no cancellation requests", err=True)


@cancellation.command()
@click.argument("request_id")
@click.pass_context
def show(ctx: click.Context, request_id: str) -> None:
    """One request, as JSON (DIGIT's codes and answer included)."""
    with _cancellations(ctx) as (cancellations, _operators):
        request = cancellations.get(request_id)
    view = {
        "id": request.id,
        "paymentId": request.payment_id,
        "action": request.action.value,
        "state": request.state.value,
        "reason": request.reason,
        "requestedBy": request.requested_by,
        "requestedAt": request.requested_at,
        "decidedBy": request.decided_by,
        "decidedAt": request.decided_at,
        "decisionNote": request.decision_note,
        "digitCodes": list(request.digit_codes),
        "digitMessage": request.digit_message,
        "digitAnswer": request.digit_answer,
        "completedAt": request.completed_at,
        "duesState": request.dues_state.value if request.dues_state else None,
        "successorBills": dict(request.successor_bills),
    }
    click.echo(jsonutil.dumps(view, compact=False))


@cancellation.command()
@click.argument("request_id")
@click.option("--operator", required=True, help="Your OPS_USERS account (not the requester).")
@click.pass_context
def approve(ctx: click.Context, request_id: str, operator: str) -> None:
    """Check DIGIT's rules and send the cancellation; a request DIGIT did not answer is
    approved again to look in DIGIT first."""
    with _cancellations(ctx) as (cancellations, operators):
        done = cancellations.approve(request_id, operator=_operator(operators, operator))
    click.echo(f"{done.id}\t{done.payment_id}\t{done.state.value}")


@cancellation.command()
@click.argument("request_id")
@click.option("--operator", required=True, help="Your OPS_USERS account (not the requester).")
@click.option("--note", default="", help="Why it is rejected (kept in the history).")
@click.pass_context
def reject(ctx: click.Context, request_id: str, operator: str, note: str) -> None:
    """Close the request; nothing is sent to DIGIT."""
    with _cancellations(ctx) as (cancellations, operators):
        done = cancellations.reject(request_id, operator=_operator(operators, operator), note=note)
    click.echo(f"{done.id}\t{done.payment_id}\t{done.state.value}")
