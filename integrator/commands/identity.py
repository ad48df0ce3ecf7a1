"""Who is acting, for the CLI's operator commands: an ops account of OPS_USERS (the console's
accounts), never free text.

The name comes from `--operator` or INTEGRATOR_OPERATOR, else a prompt; the password from
INTEGRATOR_OPERATOR_PASSWORD, else a hidden prompt. Only an `operator` account may act; a
`viewer` is refused (and the refusal is audited by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from integrator.ops.accounts import OpsAccount, authenticate, parse_accounts
from integrator.settings import Settings, SettingsError

F = TypeVar("F", bound=Callable[..., Any])

OPERATOR_ENV = "INTEGRATOR_OPERATOR"
PASSWORD_ENV = "INTEGRATOR_OPERATOR_PASSWORD"


def operator_options(func: F) -> F:
    """--operator (INTEGRATOR_OPERATOR) and the password (INTEGRATOR_OPERATOR_PASSWORD)."""
    func = click.option(
        "--operator",
        envvar=OPERATOR_ENV,
        help=f"Your ops account (OPS_USERS); default ${OPERATOR_ENV}, else asked.",
    )(func)
    func = click.option(
        "--operator-password",
        envvar=PASSWORD_ENV,
        hidden=True,  # from the environment or the prompt: a flag would land in shell history
    )(func)
    return func


def signed_in_operator(settings: Settings, name: str | None, password: str | None) -> OpsAccount:
    """The ops account `name` after its password is checked; ClickException otherwise."""
    try:
        accounts = parse_accounts(settings.ops_users)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    if not accounts:
        raise click.ClickException(
            "no ops accounts: add one to OPS_USERS (`integrator ops hash-password` makes the"
            " hash) to act on payments"
        )
    name = name or click.prompt("Ops account", err=True)
    password = password or click.prompt(f"Password of {name}", hide_input=True, err=True)
    account = authenticate(accounts, str(name), str(password))
    if account is None:
        raise click.ClickException(f"{name}: not an ops account of OPS_USERS, or wrong password")
    return account
