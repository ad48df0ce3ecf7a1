"""The SSRF rule: a webhook may not point into the integrator's own network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from integrator.webhooks.delivery import WebhookSender
from integrator.webhooks.models import InvalidWebhookUrl, WebhookEndpoint, WebhookEvent
from integrator.webhooks.targets import TargetPolicy, is_public

PUBLIC = "93.184.215.14"


def resolving(*addresses: str) -> Any:
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://127.0.0.1:6379/",  # our Redis
        "https://10.0.0.5/hook",
        "https://192.168.1.10/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://93.184.215.14/hook",  # even a public address: name the host
        "http://127.0.0.1:8123/hook",  # http to loopback needs the setting
    ],
)
def test_ip_literal_hosts_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        TargetPolicy(resolve=resolving(PUBLIC)).check(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1%eth0",
        "fc00::5",
        "::ffff:10.0.0.1",
        "ff02::1",
    ],
)
def test_names_resolving_to_an_internal_address_are_refused(address: str) -> None:
    assert not is_public(address)
    with pytest.raises(InvalidWebhookUrl, match="internal"):
        TargetPolicy(resolve=resolving(PUBLIC, address)).check("https://hooks.example/x")


def test_a_name_resolving_only_to_public_addresses_is_accepted() -> None:
    policy = TargetPolicy(resolve=resolving(PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
    assert policy.check(" https://hooks.example/x ") == "https://hooks.example/x"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(InvalidWebhookUrl, match="does not resolve"):
        TargetPolicy(resolve=resolving()).check("https://no-such-host.example/x")


def test_the_setting_allows_local_receivers_for_tests_and_the_sandbox() -> None:
    policy = TargetPolicy(allow_private=True, resolve=resolving("127.0.0.1"))
    assert policy.check("http://127.0.0.1:8123/hook") == "http://127.0.0.1:8123/hook"
    assert policy.check("https://10.0.0.5/hook") == "https://10.0.0.5/hook"
    with pytest.raises(InvalidWebhookUrl):  # plain http off the machine, still not
        policy.check("http://10.0.0.5/hook")


@dataclass
class RecordingSession:
    posts: list[str] = field(default_factory=list)

    def post(self, url: str, **kwargs: Any) -> Any:
        self.posts.append(url)
        raise AssertionError("must not be called")

    def close(self) -> None:
        pass


def test_a_host_that_resolves_internally_at_delivery_time_is_not_posted_to() -> None:
    """Checked when set (public then), checked again before each POST (rebound since)."""
    session = RecordingSession()
    sender = WebhookSender(
        targets=TargetPolicy(resolve=resolving("169.254.169.254")),
        session=session,  # type: ignore[arg-type]
    )
    endpoint = WebhookEndpoint(
        device_id="dev-1",
        url="https://hooks.example/x",
        secret="whsec_x",
        created_at=None,  # type: ignore[arg-type]
    )
    result = sender.send(endpoint, event=WebhookEvent.REGISTERED, delivery_id="d-1", body=b"{}")
    assert not result.delivered and result.error == "refused target"
    assert session.posts == []
