"""The layers point one way, read from the source's import statements (no module is imported).

    api -> payments (domain) -> ports <- store (SQL, Redis keys), digit (DIGIT), jobs (rq)

Each rule is a test; a failure names the module and what it must not import. Imports under
`if TYPE_CHECKING:` count too: a type is a dependency.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "integrator"

#: What a domain module (integrator.payments.*) never imports.
DOMAIN_NEVER = (
    "flask",
    "rq",
    "requests",
    "psycopg",
    "psycopg_pool",
    "redis",
    "integrator.api",
    "integrator.app",
    "integrator.commands",
    "integrator.jobs",
    "integrator.observability",
    "integrator.ops",
    "integrator.sandbox",
    "integrator.services",
    "integrator.webhooks",
)

#: What the domain may use of the DIGIT edge: the data and the error tree its ports speak
#: (`payments.ports.DigitGateway` returns DIGIT's bills and payments and raises its errors). The
#: client, transport and token code stay behind the port; storage is reached only through ports.
DOMAIN_MAY_USE_OF_DIGIT = ("integrator.digit.models", "integrator.digit.errors")

#: The domain modules storage and the DIGIT edge may use: its models, the ports they implement
#: (with the ledger's refusals and results) and the errors and request shapes of its use cases;
#: never its rules or use cases.
DOMAIN_MODELS = (
    "integrator.payments",  # the package itself (its __init__ imports nothing)
    "integrator.payments.cancellation_records",
    "integrator.payments.cash_records",
    "integrator.payments.devices",
    "integrator.payments.events",
    "integrator.payments.models",
    "integrator.payments.payment_filter",
    "integrator.payments.ports",
    "integrator.payments.reconciliation_records",
    "integrator.payments.use_cases",
)

#: Statements that only the storage layer writes (plus the local PostgreSQL runner's admin SQL).
SQL = re.compile(
    r"^\s*(SELECT\s[\s\S]*\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX|UNIQUE)"
    r"|ALTER\s+TABLE\s|TRUNCATE\s)",
    re.IGNORECASE,
)
#: Every Redis key starts with this (integrator.store.keys.PREFIX).
KEY_PREFIX = "integrator:"
#: Tooling that runs PostgreSQL for `make run` and the tests: not a layer of the service.
LOCAL_POSTGRES = "integrator.localpg"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    def imports(self) -> Iterator[tuple[str, int]]:
        """Every module this one imports, with the line, at any depth (functions too)."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{self.name}:{node.lineno}: use absolute imports"
                yield node.module, node.lineno
                for alias in node.names:  # `from integrator.store import keys`
                    yield f"{node.module}.{alias.name}", node.lineno

    def strings(self) -> Iterator[tuple[str, int]]:
        """String literals, and the literal start of each f-string."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield node.value, node.lineno
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield first.value, node.lineno

    def within(self, *packages: str) -> bool:
        return any(self.name == p or self.name.startswith(p + ".") for p in packages)


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append(Module(name, path, ast.parse(path.read_text(), filename=str(path))))
    return tuple(found)


def is_under(imported: str, *packages: str) -> bool:
    return any(imported == p or imported.startswith(p + ".") for p in packages)


def violations(
    only: tuple[str, ...], forbidden: tuple[str, ...], among: tuple[Module, ...] | None = None
) -> list[str]:
    """`module:line imports x` for each import of `forbidden` outside the packages `only`."""
    return [
        f"{module.name}:{line} imports {imported}"
        for module in (modules() if among is None else among)
        if not module.within(*only)
        for imported, line in module.imports()
        if is_under(imported, *forbidden)
    ]


def test_the_source_tree_is_found() -> None:
    names = {m.name for m in modules()}
    assert {"integrator.payments.registration", "integrator.store.keys"} <= names


def test_only_jobs_imports_rq() -> None:
    assert violations(("integrator.jobs",), ("rq",)) == []


def test_only_the_storage_layer_imports_psycopg() -> None:
    only = ("integrator.store", LOCAL_POSTGRES)
    assert violations(only, ("psycopg", "psycopg_pool")) == []


def test_only_the_storage_layer_writes_sql() -> None:
    found = [
        f"{module.name}:{line}: {text.strip()[:40]!r}"
        for module in modules()
        if not module.within("integrator.store", LOCAL_POSTGRES)
        for text, line in module.strings()
        if SQL.match(text)
    ]
    assert found == []


def test_only_the_storage_layer_builds_redis_keys() -> None:
    found = [
        f"{module.name}:{line}: {text[:40]!r}"
        for module in modules()
        if not module.within("integrator.store")
        for text, line in module.strings()
        if text.startswith(KEY_PREFIX)
    ]
    assert found == []


#: Redis commands that read or write data (health probes' `ping`/`info` are not among them).
REDIS_DATA_COMMANDS = frozenset(
    {
        "pipeline",
        "hincrby",
        "hincrbyfloat",
        "hgetall",
        "hget",
        "hset",
        "hdel",
        "sadd",
        "srem",
        "smembers",
        "zadd",
        "zrange",
        "zrangebyscore",
        "zrem",
        "expire",
        "pexpire",
        "setex",
        "psetex",
        "incr",
        "incrby",
        "eval",
        "evalsha",
        "register_script",
        "scan_iter",
        "lpush",
        "rpush",
        "lrange",
        "flushdb",
    }
)
#: Where Redis data is read and written: the storage layer, and jobs/, which knows RQ's own
#: structures (its scheduled-job registry) and the DIGIT-outage set that gates its queue. The
#: sandbox is DIGIT's emulator, not a layer of the service.
REDIS_DATA_OWNERS = ("integrator.store", "integrator.jobs", "integrator.sandbox")


def test_only_the_storage_layer_reads_and_writes_redis_data() -> None:
    found = [
        f"{module.name}:{node.lineno}: .{node.func.attr}()"
        for module in modules()
        if not module.within(*REDIS_DATA_OWNERS)
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in REDIS_DATA_COMMANDS
    ]
    assert found == []


@pytest.mark.parametrize("forbidden", DOMAIN_NEVER)
def test_the_domain_never_imports(forbidden: str) -> None:
    found = [
        f"{module.name}:{line} imports {imported}"
        for module in modules()
        if module.within("integrator.payments")
        for imported, line in module.imports()
        if is_under(imported, forbidden)
    ]
    assert found == []


def domain_edges(among: tuple[Module, ...] | None = None) -> set[tuple[str, str]]:
    """(domain module, storage or DIGIT module) for each import, by module (names dropped)."""
    edges = set()
    for module in modules() if among is None else among:
        if not module.within("integrator.payments"):
            continue
        for imported, _ in module.imports():
            # `from integrator.store import payments` names the package and the module: the
            # module is the edge
            if (
                is_under(imported, "integrator.store", "integrator.digit")
                and imported.count(".") >= 2
            ):
                edges.add((module.name, ".".join(imported.split(".")[:3])))
    return edges


def test_the_domain_reaches_storage_only_through_its_ports() -> None:
    assert {(m, i) for m, i in domain_edges() if is_under(i, "integrator.store")} == set()


def test_the_domain_uses_only_digits_models_and_errors() -> None:
    found = {
        (m, i)
        for m, i in domain_edges()
        if is_under(i, "integrator.digit") and i not in DOMAIN_MAY_USE_OF_DIGIT
    }
    assert found == set()


def test_storage_and_digit_use_only_the_domains_models() -> None:
    found = [
        f"{module.name}:{line} imports {imported}"
        for module in modules()
        if module.within("integrator.store", "integrator.digit")
        for imported, line in module.imports()
        if is_under(imported, "integrator.payments")
        and imported not in DOMAIN_MODELS
        # `from integrator.payments.models import Payment` also yields the name itself
        and ".".join(imported.split(".")[:3]) not in DOMAIN_MODELS
    ]
    assert found == []


def test_the_digit_edge_knows_nothing_of_storage_beyond_the_token_and_keys() -> None:
    allowed = ("integrator.store.keys", "integrator.store.tokens")
    found = [
        f"{module.name}:{line} imports {imported}"
        for module in modules()
        if module.within("integrator.digit")
        for imported, line in module.imports()
        if is_under(imported, "integrator.store")
        and not is_under(imported, *allowed)
        and imported != "integrator.store"
    ]
    assert found == []


def test_only_the_wiring_the_worker_and_the_cli_import_jobs() -> None:
    only = (
        "integrator.jobs",
        "integrator.services",
        "integrator.worker",
        "integrator.commands",
        "integrator.cli",
    )
    assert violations(only, ("integrator.jobs",)) == []


def test_nothing_but_the_wiring_imports_the_app_factory() -> None:
    only = (
        "integrator.app",
        "integrator.wsgi",
        "integrator.worker",
        "integrator.cli",
        "integrator.commands",
    )
    assert violations(only, ("integrator.app",)) == []


def test_the_sandbox_is_reached_only_from_the_cli() -> None:
    only = ("integrator.sandbox", "integrator.cli")
    assert violations(only, ("integrator.sandbox",)) == []


def test_a_forbidden_import_would_be_caught() -> None:
    """The checks read what they should: a domain module importing rq, redis and the store."""
    fake = Module(
        "integrator.payments.fake",
        PACKAGE / "payments" / "fake.py",
        ast.parse(
            "from rq import Queue\n"
            "def f():\n"
            "    import redis\n"
            "from integrator.store import payments\n"
        ),
    )
    assert violations(("integrator.jobs",), ("rq",), among=(fake,)) == [
        "integrator.payments.fake:1 imports rq",
        "integrator.payments.fake:1 imports rq.Queue",
    ]
    assert violations((), ("redis",), among=(fake,)) == ["integrator.payments.fake:3 imports redis"]
    assert domain_edges(among=(fake,)) == {
        ("integrator.payments.fake", "integrator.store.payments")
    }
