"""X-Integrator-Signature: what we send verifies, anything altered does not."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from integrator.webhooks.signing import signature_header, verify

SECRET = "whsec_unit-test-secret-0123456789"
BODY = b'{"event":"payment.registered","payment":{"totalAmount":1200.50}}'
T = 1_700_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_a_signature_we_made_verifies() -> None:
    assert verify(SECRET, signature_header(SECRET, T, BODY), BODY, now=T + 10)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_another-secret-entirely", BODY, T),  # signed with another secret
        (SECRET, BODY.replace(b"1200.50", b"1.00"), T),  # body altered
        (SECRET, BODY, T + 301),  # replayed after the tolerance
        (SECRET, BODY, T - 301),  # from the future beyond the tolerance
    ],
)
def test_a_signature_does_not_verify_for_other_secret_body_or_time(
    secret: str, body: bytes, now: int
) -> None:
    assert not verify(secret, signature_header(SECRET, T, BODY), body, now=now)


@pytest.mark.parametrize(
    "header",
    ["", "t=abc,v1=00", f"v1={'0' * 64}", f"t={T}", f"t={T},v1=", "garbage"],
)
def test_a_malformed_header_does_not_verify(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=T)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    digest = signature_header(SECRET, T, BODY).split("v1=")[1]
    assert not verify(SECRET, f"t={T + 1},v1={digest}", BODY, now=T)


def test_docs_example_receiver_accepts_our_signature() -> None:
    """The verification function printed in docs/webhooks.md, run against our signer."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text("utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)  # our own documentation's example
    check = namespace["signature_is_valid"]
    header = signature_header(SECRET, T, BODY)
    assert check(SECRET, header, BODY, now=T + 5) is True  # type: ignore[operator]
    assert check(SECRET, header, BODY + b" ", now=T + 5) is False  # type: ignore[operator]
    assert check(SECRET, header, BODY, now=T + 3600) is False  # type: ignore[operator]
