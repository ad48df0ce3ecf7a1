"""Which schema revision the ledger is at, and which this code needs, without Alembic.

The web app and the worker check the schema at start-up (`check_current`) and /readyz and
`integrator check` report it. Importing Alembic and SQLAlchemy for that cost every web process
about 20 MB of its memory, for two facts that are simple to read: the head is the revision in
`migrations/versions/` that no other revision follows, and the database's revision is the row of
Alembic's `alembic_version` table. `integrator db upgrade` (integrator.store.migrations) still
applies the revisions with Alembic, and a test checks that both agree on the head.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import psycopg
from psycopg import sql

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"

_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(?:None|['\"]([^'\"]+)['\"])", re.MULTILINE)


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code was written for."""


@functools.cache
def head_revision() -> str:
    """The newest revision this code knows: the one no other revision names as its parent."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, parent = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or parent is None:
            continue  # not a revision (a helper module)
        revisions.add(revision.group(1))
        if parent.group(1):
            parents.add(parent.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def current_revision(url: str) -> str | None:
    """The database's revision (None: nothing applied yet); DatabaseUnavailable when it cannot
    be reached."""
    from integrator.store.db import DatabaseUnavailable

    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
            if exists is None or exists[0] is None:
                return None
            rows = conn.execute(
                sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(VERSION_TABLE))
            ).fetchall()
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"the ledger database cannot be reached: {exc}") from None
    # one row on a linear history; several would be branches this code never makes
    return ",".join(sorted(str(row[0]) for row in rows)) or None


def check_current(url: str) -> None:
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing'}, this code needs {head}: "
            "run `integrator db upgrade`"
        )
