"""Every route refuses a request without credentials, except an explicit, reasoned allow-list.

The routes come from the app's url_map, so a route added later is covered without editing this
file: it must either refuse anonymous callers or be added to PUBLIC below with a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from integrator.services import Services

# path (as in url_map) -> why anyone may call it
PUBLIC: dict[str, str] = {
    "/healthz": "liveness probe for the load balancer; touches nothing",
    "/readyz": "readiness probe for the orchestrator; no secret in its body",
    "/metrics": "Prometheus scrape; aggregate counters only, no payment data",
    "/openapi.json": "the public contract of the PoS API",
    "/docs": "human documentation of that contract",
    "/static/<path:filename>": "CSS/JS of the pages",
    "/ops/login": "the ops console's sign-in page must be reachable to sign in",
    "/ops/static/<path:filename>": "CSS/JS of the ops console's sign-in page",
}
ALWAYS_PUBLIC = ("/healthz", "/readyz", "/openapi.json", "/docs")

_DUMMY = {
    "IntegerConverter": 1,
    "FloatConverter": 1.5,
    "UUIDConverter": uuid.UUID(int=1),
    "PathConverter": "some/dummy/path",
}


def _dummy_values(rule: Rule) -> dict[str, Any]:
    converters = rule._converters  # the only place werkzeug keeps them
    return {
        name: _DUMMY.get(type(converters[name]).__name__, "dummy-value") for name in rule.arguments
    }


def protected_requests(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(rule, method, url) for every route and method that is not on the allow-list."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = adapter.build(rule.endpoint, _dummy_values(rule), method=method)
            yield rule.rule, method, url


def _redirects_to_ops_login(response: Any) -> bool:
    return response.status_code in (302, 303) and "/ops/login" in response.headers.get(
        "Location", ""
    )


def test_the_allow_list_covers_only_what_must_be_public(app: Flask) -> None:
    paths = {rule.rule for rule in app.url_map.iter_rules()}
    for path in ALWAYS_PUBLIC:
        assert path in paths, f"{path} is gone: update PUBLIC"


def test_every_other_route_refuses_a_request_without_credentials(app: Flask) -> None:
    client = app.test_client()
    checked, admitted = [], []
    for rule, method, url in protected_requests(app):
        response = client.open(url, method=method, json={} if method != "GET" else None)
        checked.append((method, rule))
        if rule.startswith("/ops"):
            # the console: a redirect to its sign-in page, or a refusal. A POST without a
            # session has no CSRF token either, which is refused before the account is checked.
            ok = (
                _redirects_to_ops_login(response)
                or response.status_code in (401, 403)
                or (method == "POST" and response.status_code == 400)
            )
        elif rule.startswith("/v1"):
            ok = (
                response.status_code == 401
                and response.mimetype == "application/problem+json"
                and response.headers.get("WWW-Authenticate", "").startswith("Bearer")
            )
        else:
            ok = response.status_code in (401, 403)
        if not ok:
            admitted.append(f"{method} {rule} -> {response.status_code}")
    assert checked, "no protected route found"
    assert any(rule.startswith("/v1") for _m, rule in checked)
    assert not admitted, "anonymous requests were not refused:\n" + "\n".join(admitted)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-device-key",
        "Bearer ",
        "Basic ZmFrZTpmYWtl",
        "bearer",
        "Token abc",
    ],
)
def test_pos_routes_refuse_a_wrong_credential(app: Flask, authorization: str) -> None:
    client = app.test_client()
    for rule, method, url in protected_requests(app):
        if not rule.startswith("/v1"):
            continue
        response = client.open(url, method=method, headers={"Authorization": authorization})
        assert response.status_code == 401, (method, rule, response.status_code)


def test_a_revoked_or_rotated_key_is_refused(app: Flask, services: Services) -> None:
    client = app.test_client()
    _device, revoked_key = services.devices.add("revoked", ["pb"])
    services.devices.revoke("revoked")
    _device, old_key = services.devices.add("rotated", ["pb"])
    new_key = services.devices.rotate_key("rotated")
    for key, status in ((revoked_key, 401), (old_key, 401)):
        response = client.get(
            "/v1/payments?idempotencyKey=k1", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == status
    response = client.get(
        "/v1/payments?idempotencyKey=k1", headers={"Authorization": f"Bearer {new_key}"}
    )
    assert response.status_code == 404  # authenticated; no such payment
