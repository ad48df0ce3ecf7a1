"""The sandbox's request log (printed among `make run`'s output) masks mobile numbers."""

from __future__ import annotations

import logging
import threading

import pytest
import requests

from integrator.sandbox.app import create_sandbox_app
from integrator.sandbox.server import make_sandbox_server
from integrator.sandbox.world import SandboxConfig


def test_the_request_log_masks_mobile_numbers(caplog: pytest.LogCaptureFixture) -> None:
    server = make_sandbox_server("127.0.0.1", 0, create_sandbox_app(SandboxConfig()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for query in ("mobileNumber=9876543210", "mobileNumber=%2B91%2098765%2043210"):
                requests.post(
                    f"{base}/billing-service/bill/v2/_fetchbill?tenantId=pb.amritsar"
                    f"&businessService=WS&{query}",
                    json={},
                    timeout=5,
                )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len(lines) == 2, lines
    assert all("_fetchbill" in line and "******3210" in line for line in lines), lines
    assert not any("98765" in line for line in lines), lines
