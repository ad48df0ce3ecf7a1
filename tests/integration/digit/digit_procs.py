"""Code run in spawned processes by the DIGIT integration tests (importable by module name)."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from integrator.digit.client import DigitClient
from integrator.settings import Settings


def fetch_in_own_process(env: dict[str, str], start: Any, results: Any) -> None:
    """Build a client like a fresh web/worker process would, wait for the start signal, fetch."""
    settings = Settings.from_env(env)
    redis = redis_lib.Redis.from_url(settings.redis_url)
    client = DigitClient(settings=settings, redis=redis)
    start.wait(10)
    try:
        bills = client.fetch_bills(
            tenant_id="pb.amritsar", business_service="WS", consumer_code="WS/107/2019-20/000022"
        )
        results.put(("ok", len(bills)))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        redis.close()
