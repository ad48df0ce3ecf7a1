"""The ledger's schema, as Alembic revisions (`versions/`), applied by `integrator db upgrade`.

    upgrade(url)          apply every revision up to head (idempotent)
    current_revision(url) the revision the database is at (None: empty database)
    head_revision()       the newest revision this code knows
    check_current(url)    raise SchemaBehind unless the database is at head

The web app and the worker call `check_current` at start-up and refuse to run on an older schema,
naming the command that fixes it. No alembic.ini: the configuration is built here, so the package
works installed as well as from a checkout.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

HERE = Path(__file__).resolve().parent


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code was written for."""


def _engine(url: str) -> Engine:
    """An engine on the libpq URL as psycopg reads it. SQLAlchemy's own URL parser does not
    understand libpq's multi-host form (`host1:5432,host2:5432`, the failover URL), so the
    connection is made by psycopg and SQLAlchemy only drives it."""
    return create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(url, connect_timeout=5),
        poolclass=NullPool,
    )


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The database's revision; DatabaseUnavailable when it cannot be reached."""
    from integrator.store.db import DatabaseUnavailable

    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"the ledger database cannot be reached: {exc.orig}") from None
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection  # env.py runs on it
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def check_current(url: str) -> None:
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing'}, this code needs {head}: "
            "run `integrator db upgrade`"
        )
