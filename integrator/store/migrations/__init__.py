"""The ledger's schema, as Alembic revisions (`versions/`), applied by `integrator db upgrade`.

    upgrade(url)          apply every revision up to head (idempotent)
    alembic_head()        the head as Alembic reads it
    current_revision(url) the revision the database is at (None: empty database)
    head_revision()       the newest revision this code knows
    check_current(url)    raise SchemaBehind unless the database is at head

The last three live in integrator.store.schema_version, which reads them without importing
Alembic: the web app and the worker call `check_current` at start-up and refuse to run on an
older schema, naming the command that fixes it. No alembic.ini: the configuration is built here,
so the package works installed as well as from a checkout.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from integrator.store.schema_version import (
    SchemaBehind,
    check_current,
    current_revision,
    head_revision,
)

__all__ = [
    "SchemaBehind",
    "alembic_head",
    "check_current",
    "current_revision",
    "head_revision",
    "upgrade",
]

HERE = Path(__file__).resolve().parent


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


def alembic_head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(url: str) -> None:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection  # env.py runs on it
            command.upgrade(config, "head")
    finally:
        engine.dispose()
