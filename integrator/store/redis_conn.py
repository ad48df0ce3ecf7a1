"""The Redis connection, and a start-up warning when Redis would evict what the queue holds.

Redis holds no money: payments, idempotency records and leases are in the ledger (PostgreSQL).
What Redis does hold can be rebuilt: the RQ queues (the sweeper re-enqueues every PENDING payment
from the ledger), the shared DIGIT token (one re-login), caches, rate limits and metrics counters.
An evicting `maxmemory-policy` would still drop queued jobs and the token under memory pressure
and cost a sweep or a login each time, so web and worker warn about it at start-up (never refuse).
"""

from __future__ import annotations

import logging
import os
import socket
from importlib import metadata
from urllib.parse import urlsplit, urlunsplit

import redis as redis_lib
from redis._parsers import _HiredisParser
from redis.driver_info import DriverInfo
from redis.maint_notifications import MaintNotificationsConfig

from integrator.settings import Settings
from integrator.socket_ready import readable_now

log = logging.getLogger(__name__)

# setting -> the value that keeps queued jobs and the token from being evicted
RECOMMENDED_CONFIG: dict[str, str] = {"maxmemory-policy": "noeviction"}
READINESS_KEY_PREFIX = "integrator:readyz:"  # short-lived keys written by /readyz
READINESS_TTL_MS = 10_000


# What each connection announces with CLIENT SETINFO (CLIENT LIST shows which clients are ours),
# built once per process. Left to redis-py, every new pooled connection would look its version up
# in the installed packages' metadata (a scan of sys.path on disk), and a pool opens connections
# on the request path whenever concurrency reaches a new peak: the slowest requests of a burst.
def _version() -> str:
    try:
        return metadata.version("integrator")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "0"


DRIVER_INFO = DriverInfo(name="redis-py", lib_version=redis_lib.__version__).add_upstream_driver(
    "digit-integrator", _version()
)


class ReadyCheckParser(_HiredisParser):
    """redis-py's hiredis parser, with the check made before every command on a pooled
    connection (anything unread? closed?) asked of the operating system directly
    (integrator.socket_ready: under gevent the library's own check switches to the hub)."""

    def can_read(self, timeout: float = 0) -> bool:
        sock, reader = self._sock, self._reader
        plain = sock is not None and not hasattr(sock, "pending")  # TLS: the library's check
        unread = reader is None or reader.has_data()
        if timeout == 0 and plain and not unread and not readable_now(sock):
            return False  # the common case: nothing there, the connection is reusable
        # data, EOF or a real wait: the library tells them apart
        return bool(super().can_read(timeout))


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached at start-up."""


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def client_for(url: str) -> redis_lib.Redis:
    """A client for `url` with the settings every process uses (bytes responses, as RQ needs);
    it connects on first use."""
    return redis_lib.Redis.from_url(
        url,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=30,
        retry_on_timeout=True,
        driver_info=DRIVER_INFO,
        parser_class=ReadyCheckParser,
        # Maintenance notifications are a RESP3 feature of managed Redis; left at "auto", the
        # pool asks every connection it hands out whether it holds unread data and then ignores
        # the answer. Off, a connection with a stray reply is reconnected instead of handing
        # that reply to the next command (and ReadyCheckParser makes the question cheap).
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )


def connect(settings: Settings) -> redis_lib.Redis:
    """A client for `settings.redis_url`, checked with a PING."""
    client = client_for(settings.redis_url)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        client.close()
        raise RedisUnavailableError(
            f"Redis at {safe_url(settings.redis_url)} (REDIS_URL) is not reachable: {exc}"
        ) from exc
    return client


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def eviction_warnings(client: redis_lib.Redis) -> list[str]:
    """What in the server's settings could evict queued jobs or the token (empty: nothing)."""
    try:
        found: dict[str, str] = {}
        for name in RECOMMENDED_CONFIG:
            found.update({_text(k): _text(v) for k, v in dict(client.config_get(name)).items()})
    except redis_lib.ResponseError:
        return []  # managed Redis often disables CONFIG; nothing of money depends on it
    return [
        f"Redis {name} is {found.get(name)!r}; {wanted!r} keeps queued registration jobs and the"
        " DIGIT token from being evicted (the sweeper and a re-login would repair them)"
        for name, wanted in RECOMMENDED_CONFIG.items()
        if found.get(name, wanted).lower() != wanted
    ]


def warn_if_evicting(client: redis_lib.Redis) -> list[str]:
    """Log each eviction warning once at start-up; returns them."""
    warnings = eviction_warnings(client)
    for warning in warnings:
        log.warning(warning, extra={"redis_setting": warning.split()[1]})
    return warnings


def check_writable(client: redis_lib.Redis) -> None:
    """A real write with a short TTL; raises redis.RedisError when Redis cannot take writes."""
    key = f"{READINESS_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}"
    client.set(key, b"1", px=READINESS_TTL_MS)
