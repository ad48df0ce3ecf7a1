"""`integrator digit ...`: DIGIT reachability, the account's login and roles, lifting the lock."""

from __future__ import annotations

from datetime import datetime

import click
import redis as redis_lib

from integrator import jsonutil
from integrator.settings import Settings


def _redis(ctx: click.Context) -> tuple[Settings, redis_lib.Redis]:
    from integrator.cli import load_settings, startup_errors
    from integrator.store import redis_conn

    settings = load_settings(ctx)
    with startup_errors():
        return settings, redis_conn.connect(settings)


@click.group()
def digit() -> None:
    """The DIGIT edge: status and the login lock."""


@digit.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Is DIGIT reachable, does our login work, what may the account do per city and module?
    A JSON document (never the token or password), then the table. Exit 1 if unreachable."""
    from integrator.digit.account import check_account, format_rows
    from integrator.digit.client import DigitClient

    settings, redis = _redis(ctx)
    try:
        client = DigitClient(settings=settings, redis=redis)
        reachable = client.ping()
        account = check_account(client) if reachable else None
        state = client.auth_state()
    finally:
        redis.close()
    from integrator.ops.filters import tz_label

    tz = settings.digit_timezone

    def local(moment: datetime | None) -> datetime | None:
        # the CLI's one zone, as everywhere in the console and the CLI
        return None if moment is None else moment.astimezone(tz)

    click.echo(
        jsonutil.dumps(
            {
                "timezone": tz_label(tz),
                "digit_base_url": settings.digit_base_url,
                "reachable": reachable,
                "auth": {
                    "has_token": state.has_token,
                    "expires_at": local(state.expires_at),
                    "refresh_expires_at": local(state.refresh_expires_at),
                    "locked": state.locked,
                    "lock_kind": state.lock_kind,
                    "locked_until": local(state.locked_until),
                    "locked_reason": state.locked_reason,
                    "failed_logins": state.failed_logins,
                    "roles": [f"{r.code}@{r.tenant_id}" for r in state.roles],
                },
                "account": (
                    {"verdict": account.verdict, "message": account.message}
                    if account is not None
                    else None
                ),
            },
            compact=False,
        )
    )
    if account is not None and account.rows:
        click.echo("")
        for line in format_rows(account.rows):
            click.echo(line)
    if not reachable:
        ctx.exit(1)


@digit.command()
@click.pass_context
def unlock(ctx: click.Context) -> None:
    """Allow DIGIT logins again after they were suspended for bad credentials.

    Fix DIGIT_USERNAME / DIGIT_PASSWORD first: DIGIT locks the account after 5 bad logins.
    """
    from integrator.digit.auth import unlock as unlock_logins

    _settings, redis = _redis(ctx)
    try:
        unlock_logins(redis)
    finally:
        redis.close()
    click.echo("OK: DIGIT logins unlocked; the next request will log in again.")
