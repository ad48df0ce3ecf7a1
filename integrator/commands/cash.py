"""`integrator cash ...`: a collector's cash in hand, hand-overs to a cashier, device limits; and
the day close behind `integrator reports day-close`.

Hand-overs are recorded in the integrator's ledger only: DIGIT's REMIT is never called (it would
re-open the consumers' dues).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from datetime import date
from decimal import Decimal, InvalidOperation

import click

from integrator import jsonutil
from integrator.commands.identity import (
    OPERATOR_ENV,
    PASSWORD_ENV,
    operator_options,
    signed_in_operator,
)
from integrator.commands.params import in_zone
from integrator.logs import redact
from integrator.ops.filters import tz_label
from integrator.payments.models import PaymentMode
from integrator.services import Services


def _services(ctx: click.Context) -> AbstractContextManager[Services]:
    from integrator.cli import command_services

    return command_services(ctx)


def _amount(value: str, option: str) -> Decimal:
    """`value` as cash (counted, or a limit): a usage error naming `option` when it is not one."""
    from integrator.payments.cash import cash_amount_problem

    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount", param_hint=option) from None
    problem = cash_amount_problem(amount)
    if problem is not None:
        raise click.BadParameter(f"INVALID_AMOUNT: {value!r} {problem}", param_hint=option)
    return amount


#: The modes a hand-over may count (the PoS API's payment modes).
_MODES = tuple(m.value for m in PaymentMode)


def _amounts(values: tuple[str, ...]) -> dict[str, Decimal]:
    counted: dict[str, Decimal] = {}
    for value in values:
        mode, sep, amount = value.partition("=")
        if not sep or not mode.strip():
            raise click.BadParameter(
                f"{value!r}: write MODE=AMOUNT, e.g. CASH=1200", param_hint="--amount"
            )
        name = mode.strip().upper()
        if name not in _MODES:
            raise click.BadParameter(
                f"UNKNOWN_PAYMENT_MODE: {mode.strip()!r} is not a payment mode"
                f" ({', '.join(_MODES)})",
                param_hint="--amount",
            )
        counted[name] = _amount(amount, f"--amount {name}")
    return counted


@click.group()
def cash() -> None:
    """A collector's cash: what a device holds, hand-overs to a cashier, device limits."""


@cash.command()
@click.option("--device", "device_name", required=True, help="The device's name.")
@click.pass_context
def show(ctx: click.Context, device_name: str) -> None:
    """What the device holds, per city and payment mode: payments collected, neither handed
    over nor reversed."""
    with _services(ctx) as services:
        device = services.devices.get_by_name(device_name)
        if device is None:
            raise click.ClickException(f"DEVICE_NOT_FOUND: no device {device_name}")
        holdings = services.cash.in_hand(device.id)
        limits = services.cash.limits(device)
    click.echo(
        jsonutil.dumps(
            {
                "device": device_name,
                "cashInHandCap": limits.cash_in_hand_cap,
                "holdings": [
                    {"tenantId": h.tenant_id, "paymentMode": h.payment_mode, "amount": h.amount}
                    for h in holdings
                ],
            },
            compact=False,
        )
    )


@cash.command()
@click.option("--device", "device_name", required=True, help="The device's name.")
@click.option(
    "--amount",
    "amounts",
    multiple=True,
    required=True,
    help="What the cashier counted, per mode: MODE=AMOUNT (repeat for several modes).",
)
@click.option(
    "--cashier",
    envvar=OPERATOR_ENV,
    help=f"The ops account (role cashier) that counted; default ${OPERATOR_ENV}, else asked.",
)
@click.option("--cashier-password", envvar=PASSWORD_ENV, hidden=True)  # not in shell history
@click.option("--tenant", default=None, help="The city, when the device holds a mode in several.")
@click.option("--reason", default=None, help="Why the counted amount differs from the ledger's.")
@click.pass_context
def handover(
    ctx: click.Context,
    device_name: str,
    amounts: tuple[str, ...],
    cashier: str | None,
    cashier_password: str | None,
    tenant: str | None,
    reason: str | None,
) -> None:
    """Record that a device handed over its cash (per mode, counted) to a cashier. A difference
    from what the ledger expects needs --reason and shows as a shortfall or excess on the day."""
    from integrator.payments.cash import CashRefused

    counted = _amounts(amounts)
    with _services(ctx) as services:
        account = signed_in_operator(services.settings, cashier, cashier_password)
        if not account.may_take_cash:
            raise click.ClickException(
                f"CASHIER_REQUIRED: {account.name} is not an ops account with the cashier role"
            )
        try:
            recorded = services.cash.handover(
                device_name=device_name,
                counted=counted,
                cashier=account.name,
                tenant_id=tenant,
                reason=reason,
            )
        except CashRefused as refused:
            raise click.ClickException(f"{refused.code}: {refused.message}") from None
    for h in recorded:
        kind = "shortfall" if h.difference < 0 else "excess" if h.difference > 0 else "exact"
        click.echo(
            f"{h.id} {device_name} {h.tenant_id} {h.payment_mode}: counted {h.counted},"
            f" expected {h.expected}, {kind}"
            + (f" {abs(h.difference)} ({redact(h.reason or '')})" if h.difference else "")
        )


#: `cash limits --reset NAME` -> the LimitOverrides field it sends back to the setting.
_RESETS = {
    "offline-max-age-hours": "offline_max_age_seconds",
    "offline-cash-limit": "offline_cash_limit",
    "cash-cap": "cash_in_hand_cap",
}


@cash.command()
@click.option("--device", "device_name", required=True, help="The device's name.")
@click.option(
    "--offline-max-age-hours",
    type=click.IntRange(min=1),
    default=None,
    help="Its own OFFLINE_MAX_AGE_SECONDS, in hours.",
)
@click.option("--offline-cash-limit", type=str, default=None, help="Its own OFFLINE_CASH_LIMIT.")
@click.option(
    "--cash-cap", type=str, default=None, help="Its own CASH_IN_HAND_CAP; 0: no cap for it."
)
@click.option(
    "--reset",
    "resets",
    multiple=True,
    type=click.Choice(sorted(_RESETS)),
    help="Drop the device's own value of this limit: the setting applies again (repeatable).",
)
@operator_options
@click.pass_context
def limits(
    ctx: click.Context,
    device_name: str,
    offline_max_age_hours: int | None,
    offline_cash_limit: str | None,
    cash_cap: str | None,
    resets: tuple[str, ...],
    operator: str | None,
    operator_password: str | None,
) -> None:
    """Set a device's own limits, signed in as an OPS_USERS operator (recorded in the audit, as
    the console's actions are). Only the limits named change: the device's other own limits stay
    as they are; --reset drops one, so the setting applies to it again."""
    from integrator.payments.cash import CashRefused
    from integrator.store.offline import LimitOverrides
    from integrator.store.operator_actions import OperatorAction, OperatorActionStore

    def money(value: str | None, name: str) -> Decimal | None:
        return None if value is None else _amount(value, name)

    overrides = LimitOverrides(
        offline_max_age_seconds=None
        if offline_max_age_hours is None
        else offline_max_age_hours * 3600,
        offline_cash_limit=money(offline_cash_limit, "--offline-cash-limit"),
        cash_in_hand_cap=money(cash_cap, "--cash-cap"),
    )
    given = {
        "offline-max-age-hours": offline_max_age_hours,
        "offline-cash-limit": offline_cash_limit,
        "cash-cap": cash_cap,
    }
    both = sorted(name for name in resets if given[name] is not None)
    if both:
        raise click.UsageError(f"--{both[0]} is both set and --reset: give one")
    if not resets and all(value is None for value in given.values()):
        raise click.UsageError("name a limit to set (or --reset); `cash show` shows the cap")
    detail: dict[str, object] = {
        "device": device_name,
        "set": {name: value for name, value in given.items() if value is not None},
        "reset": sorted(resets),
    }
    with _services(ctx) as services:
        audit = OperatorActionStore(services.db)

        def record(code: str | None = None, message: str | None = None) -> None:
            audit.record(
                OperatorAction(
                    at=services.clock(),
                    operator=account.name,
                    via="cli",
                    action="cash_limits",
                    payment_id=None,
                    outcome="refused" if code else "done",
                    code=code,
                    message=message,
                    detail=detail,
                )
            )

        account = signed_in_operator(services.settings, operator, operator_password)
        if not account.may_act:
            record("ROLE_MAY_NOT_ACT", f"role {account.role.value} may not set a device's limits")
            raise click.ClickException(
                f"{account.name} is a {account.role.value}: only an operator sets limits"
            )
        try:
            device = services.cash.set_limits(
                device_name, overrides, reset=[_RESETS[name] for name in resets]
            )
        except CashRefused as refused:
            record(refused.code, refused.message)
            raise click.ClickException(f"{refused.code}: {refused.message}") from None
        effective = services.cash.limits(device)
        record()
    click.echo(
        jsonutil.dumps(
            {
                "device": device_name,
                "offlineMaxAgeSeconds": effective.offline_max_age_seconds,
                "offlineCashLimit": effective.offline_cash_limit,
                "cashInHandCap": effective.cash_in_hand_cap,
            },
            compact=False,
        )
    )


def day_close(
    ctx: click.Context,
    day: date,
    device_name: str | None,
    tenant: str | None,
    close: bool,
    operator: str | None,
    operator_password: str | None,
    output: str,
) -> None:
    """`integrator reports day-close`: the day's figures of one device or city; --close stores
    them (once), signed in as a cashier of OPS_USERS (recorded as who closed), as in the
    console. Hand-over reasons are printed with mobile numbers masked, as `cash handover` does."""
    from integrator.payments.day_close import DayCloseRefused, report_csv
    from integrator.store.cash import Scope

    if (device_name is None) == (tenant is None):
        raise click.UsageError("give exactly one of --device or --tenant")
    scope = Scope.DEVICE if device_name is not None else Scope.CITY
    with _services(ctx) as services:
        days = services.day_close
        try:
            scope_id = days.scope_id(scope, device_name or tenant or "")
            if close:
                account = signed_in_operator(services.settings, operator, operator_password)
                if not account.may_take_cash:
                    raise click.ClickException(
                        f"CASHIER_REQUIRED: {account.name} is not an ops account with the cashier"
                        " role: only a cashier closes a day"
                    )
                report = days.close(scope, scope_id, day, closed_by=account.name)
            else:
                report = days.report(scope, scope_id, day)
        except DayCloseRefused as refused:
            raise click.ClickException(f"{refused.code}: {refused.message}") from None
    if output == "csv":
        sys.stdout.write(report_csv(report))
        return
    figures = report.figures
    tz = services.settings.digit_timezone  # the zone every printed time is in
    handovers = [  # free text: it may name the payer's mobile number
        {
            **h,
            "reason": redact(h["reason"]) if h.get("reason") else h.get("reason"),
            "at": in_zone(h.get("at"), tz),
        }
        for h in figures.get("handovers", [])
    ]
    reversals = [
        {**r, "reversedAt": in_zone(r.get("reversedAt"), tz)}
        for r in figures.get("reversalsAfterHandover", [])
    ]
    click.echo(
        jsonutil.dumps(
            {
                **figures,
                "timezone": tz_label(tz),
                "handovers": handovers,
                "reversalsAfterHandover": reversals,
                "closed": report.closed,
                "closedAt": in_zone(report.closed_at, tz),
                "closedBy": report.closed_by,
            },
            compact=False,
        )
    )
