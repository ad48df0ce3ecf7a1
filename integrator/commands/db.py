"""`integrator db upgrade|status`: the ledger's schema (Alembic revisions) and its durability."""

from __future__ import annotations

import click

from integrator import jsonutil


@click.group()
def db() -> None:
    """The ledger (PostgreSQL): apply migrations, show its state."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply every migration up to head (safe to run again; run before starting a new version)."""
    from integrator.cli import load_settings
    from integrator.store.migrations import upgrade as apply
    from integrator.store.schema_version import current_revision, head_revision

    settings = load_settings(ctx)
    before = current_revision(settings.database_url)
    apply(settings.database_url)
    click.echo(f"schema at {head_revision()} (was {before or 'empty'})")


@db.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Reachability, schema revision, fsync, synchronous_commit and standbys (JSON). Exit 1 on a
    problem that would stop the web app or the worker."""
    from integrator.cli import load_settings
    from integrator.store.ledger_health import ledger_health

    settings = load_settings(ctx)
    health = ledger_health(settings.database_url)
    click.echo(
        jsonutil.dumps(
            {
                "reachable": health.reachable,
                "schema": health.schema,
                "schemaHead": health.schema_head,
                "fsync": health.fsync,
                "synchronousCommit": health.synchronous_commit,
                "synchronousStandbyNames": health.synchronous_standby_names,
                "syncStandbysStreaming": health.sync_standbys_streaming,
                "problems": health.problems(),
                "warnings": health.warnings(),
            },
            compact=False,
        )
    )
    if health.problems():
        raise SystemExit(1)
