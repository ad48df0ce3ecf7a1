"""The README's PoS API quick start works as written: the example device may use every tenant the
examples ask for, and the amounts are whole rupees."""

from __future__ import annotations

import re
from pathlib import Path

from integrator.payments.devices import scope_covers

README = Path(__file__).parents[3] / "README.md"


def quick_start() -> str:
    text = README.read_text("utf-8")
    start = text.index("## Using the PoS API")
    return text[start : text.index("\n## ", start + 1)]


def test_the_example_device_may_use_every_tenant_the_examples_ask_for() -> None:
    section = quick_start()
    commands = section.split("```")[1::2]  # the code blocks only

    [scope] = re.findall(r"devices add \S+ --tenant (\S+)", commands[0])
    asked = re.findall(r"tenantId=([a-z._]+)", commands[1])
    asked += re.findall(r'"tenantId": "([a-z._]+)"', commands[1])
    assert len(asked) >= 3
    assert all(scope_covers(scope, tenant) for tenant in asked), (scope, asked)


def test_the_example_amounts_are_whole_rupees() -> None:
    amounts = re.findall(r'"amount": ([0-9.]+)', quick_start())

    assert amounts and all(re.fullmatch(r"[1-9][0-9]*", a) for a in amounts)
