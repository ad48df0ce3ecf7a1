"""TLS verification towards DIGIT cannot be turned off by accident, by any setting or code path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from integrator.digit.http import Transport, build_session, session_for
from integrator.settings import Settings, SettingsError

BASE = {
    "DIGIT_BASE_URL": "https://digit.example.org",
    "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
    "DIGIT_USERNAME": "SYS",
    "DIGIT_PASSWORD": "a-long-password",
    "DIGIT_TENANT_ID": "pb",
}


@pytest.mark.parametrize(
    "ca_bundle", [None, "", " ", "false", "False", "0", "no", "off", "none", "None"]
)
@pytest.mark.parametrize("base_url", [None, "https://digit.example.org", "http://127.0.0.1:8090"])
def test_no_setting_turns_verification_off(ca_bundle: str | None, base_url: str | None) -> None:
    env = {k: v for k, v in BASE.items() if k != "DIGIT_BASE_URL" or base_url}
    if base_url:
        env["DIGIT_BASE_URL"] = base_url
    if ca_bundle is not None:
        env["DIGIT_CA_BUNDLE"] = ca_bundle
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:  # "false" is not a file: refused, never read as "off"
        assert "DIGIT_CA_BUNDLE" in str(error)
        return
    assert settings.digit_verify is True
    assert build_session(settings).verify is True


def test_a_ca_bundle_is_used_not_dropped(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env({**BASE, "DIGIT_CA_BUNDLE": str(bundle)})
    assert settings.digit_verify == str(bundle)
    assert build_session(settings).verify == str(bundle)
    assert session_for(settings).verify == str(bundle)


def test_settings_cannot_be_changed_to_verify_false() -> None:
    settings = Settings.from_env(BASE)
    for value in ("", None):
        assert settings.with_changes(digit_ca_bundle=value).digit_verify is True


class _SpyAdapter(requests.adapters.BaseAdapter):
    """An adapter that records what `requests` is asked to do for each request."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.calls.append(kwargs)
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        return response

    def close(self) -> None:
        pass


def test_every_request_to_digit_passes_verify_explicitly() -> None:
    settings = Settings.from_env(BASE)
    spy = _SpyAdapter()
    session = requests.Session()
    session.verify = False  # even a session misconfigured to False must be overridden
    session.mount("https://", spy)
    transport = Transport(settings=settings, session=session)
    transport.send("/billing-service/bill/v2/_fetchbill", json_body={})
    transport.send("/user/oauth/token", form={"grant_type": "password"})
    transport.send("/egov-mdms-service/v1/_search", method="GET")
    assert len(spy.calls) == 3
    assert all(call["verify"] is True for call in spy.calls)


@responses.activate
def test_the_real_session_sends_with_verification_on() -> None:
    settings = Settings.from_env(BASE)
    responses.post("https://digit.example.org/billing-service/bill/v2/_fetchbill", json={})
    Transport(settings=settings, session=build_session(settings)).send(
        "/billing-service/bill/v2/_fetchbill", json_body={}
    )
    sent = responses.calls[0].request
    verify = sent.req_kwargs["verify"]  # type: ignore[attr-defined]
    # True, or the CA bundle requests took from REQUESTS_CA_BUNDLE: never off
    assert verify is True or (isinstance(verify, str) and verify), verify
