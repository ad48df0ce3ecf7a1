"""The Redis connection, and the start-up check that Redis will not lose an acknowledged payment.

Payments, idempotency records, the DIGIT token and the job queue all live in Redis, and the PoS
device is told "accepted" once Redis has the payment. So Redis must write every change to its
append-only file before answering (`appendonly yes`, `appendfsync always`) and must refuse writes
rather than evict keys when full (`maxmemory-policy noeviction`). Web and worker both call
`check_durability` at start-up and refuse to start otherwise, unless REDIS_DURABILITY_OVERRIDE
is set.
"""

from __future__ import annotations

import logging
import os
import socket
from urllib.parse import urlsplit, urlunsplit

import redis as redis_lib

from integrator.settings import Settings

log = logging.getLogger(__name__)

# setting -> value it must have
REQUIRED_CONFIG: dict[str, str] = {
    "appendonly": "yes",
    "appendfsync": "always",
    "maxmemory-policy": "noeviction",
}
READINESS_KEY_PREFIX = "integrator:readyz:"  # short-lived keys written by /readyz
READINESS_TTL_MS = 10_000


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached at start-up."""


class RedisDurabilityError(RuntimeError):
    """Redis is configured so that it could lose acknowledged writes; start-up is refused."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Redis is not durable enough for payments: "
            + "; ".join(problems)
            + ". Fix the Redis configuration (see config/redis.conf), or set"
            " REDIS_DURABILITY_OVERRIDE=true if you accept the risk of losing payments."
        )


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(settings: Settings) -> redis_lib.Redis:
    """A client for `settings.redis_url` (bytes responses, as RQ needs), checked with a PING."""
    client = redis_lib.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=30,
        retry_on_timeout=True,
    )
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


def durability_problems(client: redis_lib.Redis) -> list[str]:
    """What is wrong with the server's persistence settings (empty when all is well)."""
    try:
        found: dict[str, str] = {}
        for name in REQUIRED_CONFIG:
            reply = client.config_get(name)
            found.update({_text(k): _text(v) for k, v in dict(reply).items()})
    except redis_lib.ResponseError as exc:
        return [
            f"CONFIG GET is not allowed on this Redis ({exc}), so appendonly, appendfsync and "
            "maxmemory-policy cannot be checked (managed Redis often disables CONFIG); confirm "
            "appendonly=yes, appendfsync=always, maxmemory-policy=noeviction with your provider "
            "and set REDIS_DURABILITY_OVERRIDE=true"
        ]
    problems = []
    for name, wanted in REQUIRED_CONFIG.items():
        current = found.get(name)
        if current is None:
            problems.append(f"{name} is not reported by CONFIG GET (must be {wanted})")
        elif current.lower() != wanted:
            problems.append(f"{name} is {current!r} (must be {wanted!r})")
    return problems


def check_durability(client: redis_lib.Redis, *, override: bool) -> list[str]:
    """Refuse (raise RedisDurabilityError) unless Redis is durable or `override` is set.

    Returns the problems found: empty when durable, the overridden ones (logged as a warning)
    when `override` is True.
    """
    problems = durability_problems(client)
    if problems and not override:
        raise RedisDurabilityError(problems)
    for problem in problems:
        log.warning(
            "REDIS_DURABILITY_OVERRIDE is set; starting although %s",
            problem,
            extra={"redis_durability_problem": problem},
        )
    return problems


def check_writable(client: redis_lib.Redis) -> None:
    """A real write with a short TTL; raises redis.RedisError when Redis cannot take writes."""
    key = f"{READINESS_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}"
    client.set(key, b"1", px=READINESS_TTL_MS)
