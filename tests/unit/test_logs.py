"""JSON logs: one object per line, secrets never logged, mobiles masked, request ids echoed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from integrator import logs

Capture = tuple[logging.Logger, io.StringIO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """A logger writing through the integrator's JSON handler into a buffer."""
    stream = io.StringIO()
    handler = logs.make_handler(stream)
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_standard_fields(capture: Capture) -> None:
    logger, stream = capture
    logger.info("payment %s accepted", "P-1", extra={"amount": "120.50", "tenant": "pb.amritsar"})
    logger.warning("second line\nwith a newline")
    first, second = lines(stream)
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.logs"
    assert first["message"] == "payment P-1 accepted"
    assert first["amount"] == "120.50"
    assert first["tenant"] == "pb.amritsar"
    assert str(first["time"]).endswith("+00:00")
    assert second["message"] == "second line\nwith a newline"


def test_a_registered_secret_never_appears_anywhere_in_a_line(capture: Capture) -> None:
    logger, stream = capture
    secret = "9f1c2e44-7d1a-4c1b-8a57-3f0f6a8b9d21"
    logs.register_secret(secret)
    logger.info("token is %s", secret, extra={"token": secret, "nested": {"t": [secret]}})
    try:
        raise RuntimeError(f"login failed with {secret}")
    except RuntimeError:
        logger.exception("DIGIT call failed")
    text = stream.getvalue()
    assert secret not in text
    assert text.count(logs.REDACTED) >= 4
    assert "RuntimeError" in text  # the traceback is kept, without the secret


@pytest.mark.parametrize(
    ("message", "leaked"),
    [
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ('body={"authToken": "5e1f-token-value", "x": 1}', "5e1f-token-value"),
        ("access_token=tok-123456&expires_in=3600", "tok-123456"),
        ("login with password=hunter22 failed", "hunter22"),
        ('{"password":"pa55word!"}', "pa55word!"),
        ("X-Device-Key: dk_live_abcdef", "dk_live_abcdef"),
        # every keyword, in other cases too (redact() skips a pattern when no keyword is present)
        ("AUTHORIZATION: BEARER Zm9vYmFyYmF6", "Zm9vYmFyYmF6"),
        ("PASSWD=Sup3rSecret", "Sup3rSecret"),
        ("refresh_token=rt-998877", "rt-998877"),
        ("Id-Token: idt-445566", "idt-445566"),
        ("client_secret=cs-112233", "cs-112233"),
        ("device_key=dk-778899", "dk-778899"),
        ("API_KEY: ak-001122", "ak-001122"),
        ("apikey=ak-334455", "ak-334455"),
    ],
)
def test_credentials_are_redacted_by_pattern(capture: Capture, message: str, leaked: str) -> None:
    logger, stream = capture
    logger.info(message)
    text = stream.getvalue()
    assert leaked not in text
    assert logs.REDACTED in text


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("payer mobile 9876543210", "payer mobile ******3210"),
        ("mobile=+91 9876543210", "mobile=******3210"),
        ("call 919812345678 now", "call ******5678 now"),
        ("bills for 6000012345.", "bills for ******2345."),
        ("payer on +91 98765 43210 paid twice", "payer on ******3210 paid twice"),
        ("call 98765-43210", "call ******3210"),
    ],
)
def test_indian_mobile_numbers_keep_only_their_last_four_digits(
    capture: Capture,
    message: str,
    masked: str,
) -> None:
    logger, stream = capture
    logger.info(message, extra={"mobile": "9876543210"})
    (line,) = lines(stream)
    assert line["message"] == masked
    assert line["mobile"] == "******3210"


@pytest.mark.parametrize(
    "text",
    [
        "POST /bill/v2/_fetchbill?tenantId=pb.amritsar&mobileNumber=9876543210 HTTP/1.1",
        "GET /v1/bills?mobileNumber=%2B91%2098765%2043210&tenantId=pb",
        "GET /v1/bills?mobile%4Eumber=9876543210&tenantId=pb",
        "payer mobile 9876543210",
    ],
)
def test_redacting_a_redacted_line_changes_nothing(text: str) -> None:
    # the sandbox masks its own request log, and a handler's filter redacts the line again
    once = logs.redact(text)
    assert "3210" in once and "9876543210" not in once
    assert logs.redact(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "amount 1200.50 for consumer WS/107/2023",
        "epoch 1700000000000 ms",
        "receipt 5123456789012",  # 13 digits: not a mobile
        "id 1234567890",  # starts with 1
        "DIGIT_PASSWORD is required when DIGIT_BASE_URL is set",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert logs.redact(text) == text


def test_short_values_are_not_registered_as_secrets() -> None:
    logs.register_secret("ab")
    logs.register_secret("")
    logs.register_secret(None)
    assert logs.redact("ab abc") == "ab abc"


def test_job_id_is_stamped_inside_bind_job_id(capture: Capture) -> None:
    logger, stream = capture
    with logs.bind_job_id("register_payment:P-1"):
        logger.info("inside")
    logger.info("outside")
    inside, outside = lines(stream)
    assert inside["job_id"] == "register_payment:P-1"
    assert "job_id" not in outside


def _app_with_request_id(stream: io.StringIO) -> Flask:
    app = Flask("test-request-id")
    logs.init_request_id(app)
    handler = logs.make_handler(stream)
    logger = logging.getLogger("tests.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/ping")
    def ping() -> str:
        logger.info("handling ping")
        return "pong"

    return app


def test_a_safe_incoming_request_id_is_echoed_and_logged() -> None:
    stream = io.StringIO()
    client = _app_with_request_id(stream).test_client()
    response = client.get("/ping", headers={"X-Request-ID": "pos-42.abc_DEF:1"})
    assert response.headers["X-Request-ID"] == "pos-42.abc_DEF:1"
    assert json.loads(stream.getvalue().splitlines()[-1])["request_id"] == "pos-42.abc_DEF:1"


@pytest.mark.parametrize("bad", ["", "has space", "<script>", "x" * 200, "\u00e9t\u00e9"])
def test_an_unsafe_or_missing_request_id_is_replaced_by_a_fresh_one(bad: str) -> None:
    stream = io.StringIO()
    client = _app_with_request_id(stream).test_client()
    response = client.get("/ping", headers={"X-Request-ID": bad} if bad else {})
    rid = response.headers["X-Request-ID"]
    assert rid != bad
    assert len(rid) == 32
    assert json.loads(stream.getvalue().splitlines()[-1])["request_id"] == rid
    assert logs.request_id_var.get() is None  # nothing leaks past the request
