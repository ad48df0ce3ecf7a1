"""X-Integrator-Signature: what we send verifies, anything altered does not."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from integrator.webhooks.signing import signature_header, verified_delivery_id, verify

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


def _docs_examples() -> dict[str, object]:
    """Every ```python block of docs/webhooks.md, run in one namespace."""
    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    namespace: dict[str, object] = {}
    exec("\n".join(blocks), namespace)  # our own documentation's examples
    return namespace


def test_docs_example_receiver_accepts_our_signature() -> None:
    """The verification function printed in docs/webhooks.md, run against our signer."""
    namespace = _docs_examples()
    check = namespace["signature_is_valid"]
    header = signature_header(SECRET, T, BODY)
    assert check(SECRET, header, BODY, now=T + 5) is True  # type: ignore[operator]
    assert check(SECRET, header, BODY + b" ", now=T + 5) is False  # type: ignore[operator]
    assert check(SECRET, header, BODY, now=T + 3600) is False  # type: ignore[operator]


DELIVERY = "0b7c6f0e-5d7e-4a57-9d0c-6f2b1f8c3a11"
SIGNED = b'{"event":"payment.registered","deliveryId":"' + DELIVERY.encode() + b'","payment":{}}'


def _ours(secret: str, header: str, delivery_header: str, body: bytes, now: float) -> str | None:
    return verified_delivery_id(secret, header, delivery_header, body, now=now)


def _docs(secret: str, header: str, delivery_header: str, body: bytes, now: float) -> str | None:
    check = _docs_examples()["verified_delivery_id"]
    return check(secret, header, delivery_header, body, now=now)  # type: ignore[operator,no-any-return]


@pytest.mark.parametrize("check", [_ours, _docs], ids=["signing", "docs-example"])
def test_the_delivery_id_is_taken_from_the_signed_body_and_must_match_the_header(
    check: Callable[[str, str, str, bytes, float], str | None],
) -> None:
    header = signature_header(SECRET, T, SIGNED)
    assert check(SECRET, header, DELIVERY, SIGNED, T + 5) == DELIVERY
    # a captured delivery replayed within the tolerance under a fresh delivery id
    assert check(SECRET, header, "a-new-delivery-id", SIGNED, T + 5) is None
    # a body without a signed id (or a forged one) does not pass either
    unsigned = signature_header(SECRET, T, BODY)
    assert check(SECRET, unsigned, DELIVERY, BODY, T + 5) is None
    forged = SIGNED.replace(DELIVERY.encode(), b"a-new-delivery-id")
    assert check(SECRET, header, "a-new-delivery-id", forged, T + 5) is None
