"""The Redis client every process builds (`redis_conn.client_for`): what its pooled connections
announce, and that a pooled connection left dirty or closed is never reused, with the cheaper
readiness check (integrator.socket_ready) in place of redis-py's."""

from __future__ import annotations

import select
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import redis as redis_lib

from integrator.store import redis_conn
from tests.support.processes import redis_server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis-client")), durable=False) as (url, _p):
        yield url


@pytest.fixture
def client(server_url: str) -> Iterator[redis_lib.Redis]:
    made = redis_conn.client_for(server_url)
    yield made
    made.close()


def test_connections_use_the_ready_check_parser(client: redis_lib.Redis) -> None:
    connection = client.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, redis_conn.ReadyCheckParser)
    finally:
        client.connection_pool.release(connection)


def test_a_connection_returned_with_an_unread_reply_is_not_reused_as_is(
    client: redis_lib.Redis,
) -> None:
    client.set("answer", "42")
    pool = client.connection_pool
    dirty = pool.get_connection()
    dirty.send_command("PING")  # its +PONG is never read: a greenlet killed mid-command
    assert select.select([dirty._sock], [], [], 5)[0], "no +PONG from the server"
    pool.release(dirty)
    # the next command on that connection would read +PONG as its own answer
    assert client.get("answer") == b"42"
    assert client.get("answer") == b"42"


def test_new_connections_announce_us_without_reading_package_metadata(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool opens connections on the request path at each new peak of concurrency: redis-py's
    # default would read its version from the installed metadata on disk for every one.
    client = redis_conn.client_for(server_url)
    admin = redis_lib.Redis.from_url(server_url)
    admin.ping()  # its connection (redis-py's defaults) made before the count starts
    looked_up: list[str] = []
    monkeypatch.setattr("redis.utils.get_lib_version", lambda: looked_up.append("x") or "0")
    pool = client.connection_pool
    connections = [pool.get_connection() for _ in range(3)]
    try:
        for conn in connections:
            conn.send_command("PING")
            assert conn.read_response() in (b"PONG", "PONG")
        libs = {c.get("lib-name") for c in admin.client_list()}
        version = tuple(int(p) for p in str(admin.info("server")["redis_version"]).split("."))
    finally:
        for conn in connections:
            pool.release(conn)
        client.close()
        admin.close()
    assert looked_up == []
    if version >= (7, 2):  # CLIENT SETINFO is new in 7.2; older servers refuse it (ignored)
        assert f"redis-py(digit-integrator_v{metadata.version('integrator')})" in libs
