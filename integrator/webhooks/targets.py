"""Where a webhook may be POSTed: not to the integrator's own network (SSRF).

A webhook URL is chosen by an operator for an aggregator, and the worker POSTs to it from inside
the deployment, next to Redis, PostgreSQL and the cloud's metadata service. So a host that is an
IP literal or resolves to a loopback, private, link-local, shared (CGNAT), reserved, multicast or
unspecified address is refused: when the URL is set, and again before every delivery (the name
may resolve elsewhere by then). Plain http is allowed only to loopback hosts, and only with
`allow_private` (WEBHOOK_ALLOW_PRIVATE_TARGETS: tests and the sandbox).

Not covered: a name that resolves to a public address for the check and to an internal one a
moment later for the POST (DNS rebinding within one delivery).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from integrator.webhooks.models import InvalidWebhookUrl, validate_url

#: host, port -> the addresses a connection to it may reach
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `getaddrinfo` gives for host:port (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    """True for an address on the public internet (not ours, not special-purpose)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, kw_only=True)
class TargetPolicy:
    """The SSRF rule for webhook URLs; `allow_private` lifts it (tests and the sandbox only)."""

    allow_private: bool = False
    resolve: Resolver = field(default=system_resolver, repr=False)

    def check(self, url: str) -> str:
        """`url` (cleaned) if we may POST to it now; InvalidWebhookUrl otherwise."""
        cleaned = validate_url(url, allow_http_loopback=self.allow_private)
        if self.allow_private:
            return cleaned
        parts = urlsplit(cleaned)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise InvalidWebhookUrl("a webhook URL must name its host, not an IP address")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.resolve(host, port)
        if not addresses:
            raise InvalidWebhookUrl(f"the webhook host does not resolve: {host!r}")
        if not all(is_public(address) for address in addresses):
            raise InvalidWebhookUrl(f"the webhook host resolves to an internal address: {host!r}")
        return cleaned
