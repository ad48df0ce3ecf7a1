"""The README's client example runs as written against the sandbox and a real Redis."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Fetching a sandbox bill through the client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README lost its client example"
    return match.group(1)


def test_readme_client_example_fetches_a_sandbox_bill(
    sandbox: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DIGIT_BASE_URL", "DIGIT_USERNAME", "DIGIT_PASSWORD", "DIGIT_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SANDBOX_PORT", str(urlparse(sandbox).port))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_example(), str(README), "exec"), {})
    printed = out.getvalue().split()
    assert printed[0].startswith("BILLNO-WS-"), out.getvalue()
    assert printed[1] == "815.00" or printed[1] == "815", out.getvalue()
