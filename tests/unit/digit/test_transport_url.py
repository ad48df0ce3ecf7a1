"""Transport builds each URL itself (base normalised once); it must be what requests would build."""

from __future__ import annotations

import pytest
import requests

from integrator.digit.http import Transport, build_session
from integrator.settings import Settings

BASE = {
    "DIGIT_USERNAME": "SYS",
    "DIGIT_PASSWORD": "a-long-password",
    "DIGIT_TENANT_ID": "pb",
    "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
}


def _requests_url(base: str, endpoint: str, params: dict[str, str] | None) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(f"{base.rstrip('/')}/{endpoint.lstrip('/')}", params)
    assert prepared.url is not None
    return prepared.url


@pytest.mark.parametrize(
    "base",
    [
        "https://digit.example.org",
        "https://digit.example.org/",
        "http://127.0.0.1:8090/gateway",
        "https://DIGIT.Example.org",
    ],
)
@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        (
            "/billing-service/bill/v2/_fetchbill",
            {
                "tenantId": "pb.amritsar",
                "businessService": "WS",
                "consumerCode": "WS/107/2019-20/000022",
            },
        ),
        ("collection-services/payments/WS/_search", {"receiptNumbers": "WS/107/2025-26/000001"}),
        ("/egov-mdms-service/v1/_search", None),
        (
            "/billing-service/bill/v2/_search",
            {"consumerCode": "a b&c=d+e%f", "mobileNumber": "9876"},
        ),
    ],
)
def test_the_url_is_the_one_requests_would_send(
    base: str, endpoint: str, params: dict[str, str] | None
) -> None:
    settings = Settings.from_env({**BASE, "DIGIT_BASE_URL": base})
    transport = Transport(settings=settings, session=build_session(settings))
    assert transport._url(endpoint, params) == _requests_url(base, endpoint, params)
