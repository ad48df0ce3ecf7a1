"""Fixtures for the DIGIT client's unit tests: `responses` for DIGIT, a real Redis for the token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
import responses as responses_lib

from integrator.digit.client import DigitClient
from integrator.digit.http import build_session
from integrator.settings import Settings

BASE = "https://digit.test"


@pytest.fixture
def digit_settings(redis_url: str) -> Settings:
    return Settings.from_env(
        {
            "DIGIT_BASE_URL": BASE,
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
            "DIGIT_PASSWORD": "s3cret-password",
            "DIGIT_TENANT_ID": "pb.amritsar",
            "DIGIT_TIMEZONE": "Asia/Kolkata",
            "DIGIT_CONNECT_TIMEOUT": "1.5",
            "DIGIT_READ_TIMEOUT": "4",
            "REDIS_URL": redis_url,
        }
    )


@pytest.fixture
def rsps() -> Iterator[responses_lib.RequestsMock]:
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(digit_settings: Settings, redis: redis_lib.Redis) -> DigitClient:
    return DigitClient(settings=digit_settings, redis=redis, session=build_session(digit_settings))
