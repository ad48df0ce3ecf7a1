"""The schema check without Alembic, on a real PostgreSQL: it agrees with Alembic on the head, reads
an empty database as nothing applied, names the command that fixes a schema behind, and the web
app built on it does not import Alembic or SQLAlchemy at all (about 20 MB per web process)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from integrator.localpg import PrivateCluster
from integrator.settings import Settings
from integrator.store import migrations, schema_version
from integrator.store.db import DatabaseUnavailable

_names = itertools.count(1)


@pytest.fixture
def empty_database(postgres_cluster: PrivateCluster) -> Iterator[str]:
    name = f"empty_{next(_names)}"
    with psycopg.connect(postgres_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


def test_the_head_is_the_one_alembic_finds() -> None:
    assert schema_version.head_revision() == migrations.alembic_head()


def test_an_empty_database_is_behind_until_upgraded(empty_database: str) -> None:
    assert schema_version.current_revision(empty_database) is None
    with pytest.raises(schema_version.SchemaBehind, match=r"at nothing.*integrator db upgrade"):
        schema_version.check_current(empty_database)

    migrations.upgrade(empty_database)

    assert schema_version.current_revision(empty_database) == schema_version.head_revision()
    schema_version.check_current(empty_database)


def test_a_database_at_an_older_revision_is_behind(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0008'")
    assert schema_version.current_revision(database_url) == "0008"
    with pytest.raises(schema_version.SchemaBehind, match="at 0008, this code needs"):
        schema_version.check_current(database_url)


def test_an_unreachable_database_is_said_so() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        schema_version.current_revision("postgresql://nobody@127.0.0.1:9/none")


def test_the_web_app_starts_without_importing_alembic_or_sqlalchemy(settings: Settings) -> None:
    probe = (
        "import sys\n"
        "from gevent import monkey; monkey.patch_all()\n"
        "from integrator.app import create_app\n"
        "app = create_app()\n"
        "with app.test_client() as client:\n"
        "    assert client.get('/readyz').status_code in (200, 503)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'sqlalchemy'}))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": settings.database_url,
        "DIGIT_BASE_URL": settings.digit_base_url,
        "DIGIT_USERNAME": settings.digit_username,
        "DIGIT_PASSWORD": "sandbox-password",
        "DIGIT_TENANT_ID": "pb.amritsar",
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
    }
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip().splitlines()[-1] == "[]"
