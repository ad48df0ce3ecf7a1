"""`integrator ops ...`: the ops console's accounts."""

from __future__ import annotations

import click


@click.group()
def ops() -> None:
    """The ops console: make password hashes for OPS_USERS."""


@ops.command(name="hash-password")
@click.password_option(
    "--password",
    prompt="Password",
    confirmation_prompt=True,
    help="Read from a prompt when not given (it is never logged).",
)
def hash_password(password: str) -> None:
    """Print a password hash for one OPS_USERS entry: name:role:<hash>."""
    from integrator.ops.accounts import hash_password as make_hash

    if len(password) < 12:
        raise click.BadParameter("use at least 12 characters", param_hint="password")
    click.echo(make_hash(password))
