"""Which webhook URLs we accept, and what a secret looks like."""

from __future__ import annotations

import pytest

from integrator.webhooks.models import InvalidWebhookUrl, new_secret, validate_url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.aggregator.example/digit",
        "https://hooks.aggregator.example:8443/digit?account=7",
        "  https://padded.example/hook  ",
    ],
)
def test_https_urls_are_accepted(url: str) -> None:
    assert validate_url(url) == url.strip()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123/hook", "http://localhost/hook", "http://[::1]:9000/hook"]
)
def test_loopback_http_urls_are_accepted_only_when_allowed(url: str) -> None:
    """WEBHOOK_ALLOW_PRIVATE_TARGETS (tests and the sandbox); refused by default."""
    assert validate_url(url, allow_http_loopback=True) == url
    with pytest.raises(InvalidWebhookUrl):
        validate_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.aggregator.example/digit",  # plain http off the machine
        "http://10.0.0.5/hook",
        "ftp://hooks.aggregator.example/",
        "hooks.aggregator.example/digit",  # no scheme
        "https:///no-host",
        "https://user:pass@hooks.aggregator.example/",  # credentials in the URL
        "https://hooks.aggregator.example:notaport/",
        "",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        validate_url(url)


def test_secrets_are_new_each_time_and_long() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_") and len(first) >= 6 + 43
