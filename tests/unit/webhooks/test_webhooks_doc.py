"""What docs/webhooks.md tells receivers matches what the integrator does."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[3] / "docs" / "webhooks.md"


def _section(title: str) -> str:
    text = DOC.read_text("utf-8")
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert found is not None, title
    return " ".join(found.group(1).split())


def test_receivers_are_told_to_deduplicate_by_the_delivery_id_only() -> None:
    """A payment can go NEEDS_ATTENTION twice and get two legitimate deliveries of one event,
    so payment id + event is not a dedup key."""
    advice = _section("Retries and duplicates")
    assert "Deduplicate by the delivery id" in advice and "**only**" in advice
    assert "Do not deduplicate by `payment.id` + `event`" in advice
    assert "at most one delivery per event" not in advice
