"""The ledger pool checks a connection before use only after it sat idle (integrator.store.db)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from integrator.store import db as db_module
from integrator.store.db import Database, DatabaseUnavailable


def _backend_pid(database: Database) -> int:
    with database.autocommit() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        # waits (up to 5 s) until the backend has exited
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


@pytest.fixture
def one_connection(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(db_module, "CHECK_AFTER_IDLE_SECONDS", request.param)
    database = Database.connect(database_url, min_size=1, max_size=1)
    monkeypatch.undo()
    yield database
    database.close()


@pytest.mark.parametrize("one_connection", [3600.0], indirect=True)
def test_a_connection_in_steady_use_is_not_checked_so_its_break_costs_one_request(
    one_connection: Database, database_url: str
) -> None:
    _terminate(database_url, _backend_pid(one_connection))

    with pytest.raises(DatabaseUnavailable):
        _backend_pid(one_connection)
    # the pool discarded the broken connection: the next request gets a new one
    assert _backend_pid(one_connection) > 0


@pytest.mark.parametrize("one_connection", [0.0], indirect=True)
def test_a_connection_idle_past_the_bound_is_checked_and_replaced_before_use(
    one_connection: Database, database_url: str
) -> None:
    first = _backend_pid(one_connection)
    _terminate(database_url, first)

    assert _backend_pid(one_connection) != first  # no request saw the broken connection
