"""`integrator payments cancel` and `integrator payments cancellation ...`: reversals, two people.

The operator signs in as an OPS_USERS account, the console's accounts (`--operator` or
INTEGRATOR_OPERATOR, the password from INTEGRATOR_OPERATOR_PASSWORD or a prompt): an unknown name
or a wrong password is refused, a viewer may list and show but not ask, approve or reject. The
requester of a cancellation cannot approve or reject it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo

import click

from integrator import jsonutil
from integrator.commands.identity import operator_options, signed_in_operator
from integrator.commands.params import in_zone
from integrator.logs import redact, redact_value
from integrator.ops.filters import tz_label
from integrator.payments.cancellation import CancellationRefused, Cancellations
from integrator.payments.cancellation_records import (
    Action,
    CancellationRequest,
    Operator,
    RequestState,
)
from integrator.settings import Settings


@contextmanager
def _cancellations(ctx: click.Context) -> Iterator[tuple[Cancellations, Settings]]:
    from integrator.cli import command_services

    with command_services(ctx) as services:
        try:
            yield services.cancellations, services.settings
        except CancellationRefused as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc


def _operator(settings: Settings, name: str | None, password: str | None) -> Operator:
    """The signed-in OPS_USERS account (its password checked); the use cases decide whether
    its role may ask or decide."""
    account = signed_in_operator(settings, name, password)
    return Operator(name=account.name, may_act=account.may_act)


def _line(r: CancellationRequest, tz: tzinfo) -> str:
    codes = ",".join(r.digit_codes)
    return "\t".join(
        (
            r.requested_at.astimezone(tz).isoformat(timespec="seconds"),
            r.id,
            r.payment_id,
            r.action.value,
            r.state.value,
            r.requested_by,
            r.decided_by or "",
            codes,
            redact(r.reason),  # free text: it may name the payer's mobile number
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
@operator_options
@click.pass_context
def cancel(
    ctx: click.Context,
    payment_id: str,
    reason: str,
    dishonour: bool,
    operator: str | None,
    operator_password: str | None,
) -> None:
    """Ask for a REGISTERED payment to be cancelled (or dishonoured) in DIGIT; another operator
    approves it with `integrator payments cancellation approve`."""
    action = Action.DISHONOUR if dishonour else Action.CANCEL
    with _cancellations(ctx) as (cancellations, settings):
        made = cancellations.request_by_operator(
            operator=_operator(settings, operator, operator_password),
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
    with _cancellations(ctx) as (cancellations, settings):
        found = cancellations.recent(states=states, limit=limit)
    tz = settings.digit_timezone
    for request in found:
        click.echo(_line(request, tz))
    click.echo(
        f"{len(found) or 'no'} cancellation requests; times in {tz_label(tz)}",
        err=True,
    )


@cancellation.command()
@click.argument("request_id")
@click.pass_context
def show(ctx: click.Context, request_id: str) -> None:
    """One request, as JSON (DIGIT's codes and answer included)."""
    with _cancellations(ctx) as (cancellations, settings):
        request = cancellations.get(request_id)
    tz = settings.digit_timezone
    view = {
        "timezone": tz_label(tz),
        "id": request.id,
        "paymentId": request.payment_id,
        "action": request.action.value,
        "state": request.state.value,
        "reason": redact(request.reason),  # free text, like the note and DIGIT's words
        "requestedBy": request.requested_by,
        "requestedAt": in_zone(request.requested_at, tz),
        "decidedBy": request.decided_by,
        "decidedAt": in_zone(request.decided_at, tz),
        "decisionNote": redact_value(request.decision_note),
        "digitCodes": list(request.digit_codes),
        "digitMessage": redact_value(request.digit_message),
        "digitAnswer": redact_value(request.digit_answer),
        "completedAt": in_zone(request.completed_at, tz),
        "duesState": request.dues_state.value if request.dues_state else None,
        "successorBills": dict(request.successor_bills),
    }
    click.echo(jsonutil.dumps(view, compact=False))


@cancellation.command()
@click.argument("request_id")
@operator_options
@click.pass_context
def approve(
    ctx: click.Context, request_id: str, operator: str | None, operator_password: str | None
) -> None:
    """Check DIGIT's rules and send the cancellation; a request DIGIT did not answer is
    approved again to look in DIGIT first."""
    with _cancellations(ctx) as (cancellations, settings):
        who = _operator(settings, operator, operator_password)
        done = cancellations.approve(request_id, operator=who)
    click.echo(f"{done.id}\t{done.payment_id}\t{done.state.value}")


@cancellation.command()
@click.argument("request_id")
@operator_options
@click.option("--note", default="", help="Why it is rejected (kept in the history).")
@click.pass_context
def reject(
    ctx: click.Context,
    request_id: str,
    operator: str | None,
    operator_password: str | None,
    note: str,
) -> None:
    """Close the request; nothing is sent to DIGIT."""
    with _cancellations(ctx) as (cancellations, settings):
        who = _operator(settings, operator, operator_password)
        done = cancellations.reject(request_id, operator=who, note=note)
    click.echo(f"{done.id}\t{done.payment_id}\t{done.state.value}")
