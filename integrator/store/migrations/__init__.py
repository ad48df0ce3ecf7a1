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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

HERE = Path(__file__).resolve().parent


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code was written for."""


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (postgresql://...) as SQLAlchemy names the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # '%' is ConfigParser's interpolation character; a URL may contain escaped characters
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config("postgresql://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The database's revision; DatabaseUnavailable when it cannot be reached."""
    from integrator.store.db import DatabaseUnavailable

    engine = create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"the ledger database cannot be reached: {exc.orig}") from None
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    command.upgrade(_config(url), "head")


def check_current(url: str) -> None:
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing'}, this code needs {head}: "
            "run `integrator db upgrade`"
        )
