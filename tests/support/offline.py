"""Settings shaped like a real deployment whose DIGIT is never reached (nothing listens on :9)."""

from __future__ import annotations

from integrator.settings import Settings


def offline_settings(redis_url: str, *, password: str, database_url: str, **env: str) -> Settings:
    """A real-DIGIT configuration (nothing is called at start-up) on the given Redis and ledger."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "DIGIT_BASE_URL": "http://127.0.0.1:9",
            "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
            "DIGIT_PASSWORD": password,
            "DIGIT_TENANT_ID": "pb.amritsar",
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret-key-0123456789abcdef",
            **env,
        }
    )
