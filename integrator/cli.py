"""`integrator`: the ops command line (a click group).

    integrator check                 validate settings, Redis durability and the DIGIT login
    integrator worker [--burst]      run an RQ worker (what the Procfile runs)
    integrator sandbox [ARGS...]     run the DIGIT sandbox (arguments passed through)
    integrator digit status|unlock   DIGIT reachability and token state; lift the login lock

Command groups live one per module in `integrator/commands/` and are listed in COMMAND_GROUPS
("module:attribute"); they are imported only when the CLI starts, so adding a group is one file
plus one line here. Commands get Settings with `load_settings(ctx)` (tests pass `obj=settings`)
and the object graph with `command_services(ctx)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from integrator.payments.use_cases import LedgerUnavailable
from integrator.settings import Settings, SettingsError

if TYPE_CHECKING:
    from integrator.services import Services

# Add a group: write integrator/commands/<area>.py with a `click.Group`, list it here.
COMMAND_GROUPS: tuple[str, ...] = (
    "integrator.commands.db:db",
    "integrator.commands.digit:digit",
    "integrator.commands.devices:devices",
    "integrator.commands.reports:reports",
    "integrator.commands.payments:payments",
    "integrator.commands.queue:queue",
    "integrator.ops.commands:ops",
    "integrator.commands.cash:cash",
)


def load_settings(ctx: click.Context) -> Settings:
    """The Settings given by the caller (`obj=`), else read once from the environment."""
    root = ctx.find_root()
    if isinstance(root.obj, Settings):
        return root.obj
    with startup_errors():
        settings = Settings.from_env()
    root.obj = settings
    return settings


@contextmanager
def startup_errors() -> Iterator[None]:
    """Turn the start-up refusals into a one-line message and exit code 1 (no traceback)."""
    from integrator.store.redis_conn import RedisUnavailableError
    from integrator.store.schema_version import SchemaBehind

    try:
        yield
    except (SettingsError, SchemaBehind, LedgerUnavailable, RedisUnavailableError) as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def command_services(ctx: click.Context, *, pool_size: int = 2) -> Iterator[Services]:
    """The object graph one command works with (a small ledger pool: a command runs alone),
    built from `load_settings(ctx)` with start-up refusals as one-line errors, closed after."""
    from integrator.services import Services

    settings = load_settings(ctx)
    with startup_errors():
        services = Services.build(settings, pool_size=pool_size)
    try:
        yield services
    finally:
        services.close()


@click.group(name="integrator")
def main() -> None:
    """DIGIT bill-collection integrator: ops commands."""


def web_start_problems(settings: Settings) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the web app's own start-up checks beyond Settings: the session
    key and the ops accounts (the same rules `init_ops` refuses to start on)."""
    from integrator.ops.accounts import parse_accounts

    problems: list[str] = []
    warnings: list[str] = []
    if settings.secret_key and len(settings.secret_key) < 16:
        problems.append("SECRET_KEY must be at least 16 characters")
    elif not settings.secret_key and not settings.sandbox_mode:
        problems.append(
            "SECRET_KEY is required when DIGIT_BASE_URL is set (it signs ops console sessions;"
            " `python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one)"
        )
    try:
        accounts = parse_accounts(settings.ops_users)
    except SettingsError as exc:
        problems.append(str(exc))
    else:
        if not accounts:
            warnings.append(
                "OPS_USERS is empty: nobody can sign in to the ops console or act from the CLI"
                " (`integrator ops hash-password` makes an entry's hash)"
            )
    if settings.settlement_timezone.key != settings.digit_timezone.key:
        warnings.append(
            f"SETTLEMENT_TIMEZONE ({settings.settlement_timezone.key}) differs from"
            f" DIGIT_TIMEZONE ({settings.digit_timezone.key}): settlement days and the times"
            " shown by the console and CLI are in different zones"
        )
    return problems, warnings


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate every setting (all problems at once), the ledger and Redis, then log in to
    DIGIT once and say whether the credentials and tenant work and what the account may do per
    city and module. Exit code 1 when the web app or the worker would refuse to start or could
    not work (DIGIT unreachable is only reported: payments are accepted meanwhile)."""
    import redis as redis_lib

    from integrator.digit.account import check_account, format_rows
    from integrator.digit.client import DigitClient
    from integrator.store import redis_conn
    from integrator.store.ledger_health import ledger_health

    root = ctx.find_root()
    setting_problems: list[str] = []
    if isinstance(root.obj, Settings):
        settings = root.obj
    else:
        settings, setting_problems = Settings.read_env()
    problems = [f"settings: {p}" for p in setting_problems]
    web_problems, warnings = web_start_problems(settings)
    problems += [f"settings: {p}" for p in web_problems]
    warnings = [f"settings: {w}" for w in warnings]
    ledger = ledger_health(settings.database_url)
    problems += [f"ledger: {p}" for p in ledger.problems()]
    warnings += [f"ledger: {w}" for w in ledger.warnings()]
    try:
        client = redis_conn.connect(settings)
    except redis_conn.RedisUnavailableError as exc:
        problems.append(f"redis: {exc}")
        client = None
    redis_role = "unreachable"
    account = None
    if client is not None:
        try:
            warnings += [f"redis: {w}" for w in redis_conn.eviction_warnings(client)]
            redis_role = str(client.info("replication").get("role", "?"))
            # the queues, the shared token and its lock are written: a replica answers reads
            # (and may even hold a token) while every write fails
            redis_conn.check_writable(client)
        except redis_lib.RedisError as exc:
            problems.append(
                f"redis: {redis_conn.safe_url(settings.redis_url)} takes no writes"
                f" (role {redis_role}): {type(exc).__name__}: {exc}"
            )
        else:
            account = check_account(DigitClient(settings=settings, redis=client), verify_login=True)
        finally:
            client.close()
    if account is not None and account.verdict not in ("ok", "unreachable"):
        problems.append(f"DIGIT refused: {account.message}")
    if (
        account is not None
        and account.verdict == "ok"
        and not any(r.may_create for r in account.rows)
    ):
        problems.append(
            f"DIGIT: {settings.digit_username} may create payments in no city: every payment"
            " would be refused (give the account a collection role, see the table)"
        )
    for warning in warnings:
        click.echo(f"WARNING {warning}", err=True)
    for problem in problems:
        click.echo(f"PROBLEM {problem}", err=True)
    if account is not None:
        click.echo(f"DIGIT: {account.message}")
        for line in format_rows(account.rows):
            click.echo(line)
    if problems:
        click.echo(
            f"{len(problems)} problem(s): the web app or the worker would refuse to start"
            " or could not work",
            err=True,
        )
        raise SystemExit(1)
    mode = "sandbox" if settings.sandbox_mode else "DIGIT"
    standby = (
        f"synchronous standby {ledger.synchronous_standby_names}"
        f" ({ledger.sync_standbys_streaming} streaming)"
        if ledger.synchronous_standby_names
        else "no synchronous standby"
    )
    click.echo(
        f"OK: settings valid; ledger schema {ledger.schema}, fsync {ledger.fsync},"
        f" synchronous_commit {ledger.synchronous_commit}, {standby};"
        f" Redis {redis_conn.safe_url(settings.redis_url)} ({redis_role});"
        f" {mode} at {settings.digit_base_url}"
    )


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queues are empty (tests, one-off runs).")
@click.option(
    "--queue", "queues", multiple=True, help="Serve only this queue (repeatable). Default: all."
)
@click.option("--no-scheduler", is_flag=True, help="Do not run the RQ scheduler in this worker.")
@click.pass_context
def worker(ctx: click.Context, burst: bool, queues: tuple[str, ...], no_scheduler: bool) -> None:
    """Run an RQ worker with the scheduler, after the Redis durability check."""
    from integrator.worker import QUEUES, run_worker

    settings = load_settings(ctx)
    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.BadParameter(f"unknown queues {sorted(unknown)}; known: {list(QUEUES)}")
    with startup_errors():
        run_worker(settings, burst=burst, queues=queues or QUEUES, with_scheduler=not no_scheduler)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(args: tuple[str, ...]) -> None:
    """Run the DIGIT sandbox; every argument goes to it (try `integrator sandbox --help`)."""
    from integrator.sandbox import main as sandbox_main

    raise SystemExit(sandbox_main(list(args)))


def _register_groups(group: click.Group) -> None:
    for dotted in COMMAND_GROUPS:
        module_name, _, attribute = dotted.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), dotted
        group.add_command(command)


_register_groups(main)


if __name__ == "__main__":  # `python -m integrator.cli` (bin/run-local uses it)
    main()
