"""A pytest plugin: no secret reaches a log line or DIGIT during the whole test run.

Registered from tests/conftest.py (`pytest_plugins`). For the whole session it

* captures every log record of this process, formatted the way production writes it (through the
  filters and formatter of the app's `integrator-json` handler, on a copy of the record, so other
  handlers and `caplog` see what they always saw), plus the `*.log` files a test leaves in its
  `tmp_path` (the worker subprocesses write there);
* collects the secrets the run creates: the sandbox's DIGIT password, every secret field of every
  `Settings` built (passwords, client secret, session key, ops users' hashes), every device key
  (`DeviceStore.add` / `rotate_key` are observed), every password hashed with werkzeug (the ops
  console's users), and every DIGIT access/refresh token the sandbox issued (`/_sandbox/tokens`);
* after each test: fails it if a line captured during it holds a known secret or a raw seed mobile
  number, or if a request the sandbox received holds a device key or an ops password
  (`/_sandbox/requests`);
* at session end: sweeps every captured line again against every secret learned, and fails the
  run (exit status 1) if any appears.

Fixtures for tests: `secrets_guard` (the `SecretsGuard`), `captured_logs` (lines of this test).
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

MIN_SECRET_LENGTH = 8  # shorter test values ("p", "pw") would match ordinary text
LOG_HANDLER_NAME = "integrator-json"  # the production handler whose pipeline we reproduce

# Where a secret may legitimately travel: DIGIT's own credentials go to DIGIT, nothing else does.
DIGIT_KINDS = frozenset({"digit-password", "digit-token", "settings"})


@dataclass
class Leak:
    secret_kind: str
    where: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.secret_kind} in {self.where}: {self.excerpt}"


@dataclass
class CapturedLine:
    test: str | None
    text: str


@dataclass
class SecretsGuard:
    """The session's registry of secrets and captured log lines."""

    secrets: dict[str, str] = field(default_factory=dict)  # value -> kind
    lines: list[CapturedLine] = field(default_factory=list)
    mobiles: frozenset[str] = frozenset()
    current_test: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pattern: re.Pattern[str] | None = None
    _pattern_size: int = -1
    _request_cursor: dict[str, int] = field(default_factory=dict)

    # --- secrets ---
    def add(self, value: object, kind: str) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self.secrets.setdefault(value, kind)

    def kinds(self) -> set[str]:
        return set(self.secrets.values())

    def _secret_pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern_size != len(self.secrets):
                ordered = sorted(self.secrets, key=len, reverse=True)
                self._pattern = (
                    re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
                )
                self._pattern_size = len(self.secrets)
            return self._pattern

    def leaks_in(
        self, texts: Iterable[tuple[str, str]], *, only: Callable[[str], bool] | None = None
    ) -> list[Leak]:
        """Every (where, text) holding a secret (whose kind passes `only`) or a raw mobile."""
        pattern = self._secret_pattern()
        mobiles = _mobile_pattern(self.mobiles) if only is None else None
        found: list[Leak] = []
        for where, text in texts:
            if pattern is not None:
                for match in pattern.finditer(text):
                    kind = self.secrets.get(match.group(0), "?")
                    if only is None or only(kind):
                        found.append(Leak(kind, where, _excerpt(text, match)))
            if mobiles is not None:
                for match in mobiles.finditer(text):
                    found.append(Leak("unmasked mobile number", where, _excerpt(text, match)))
        return found

    # --- log lines ---
    def capture(self, text: str) -> None:
        self.lines.append(CapturedLine(self.current_test, text))

    def lines_since(self, index: int) -> list[str]:
        return [line.text for line in self.lines[index:]]

    # --- the sandbox ---
    def learn_sandbox(self, base: str) -> list[Leak]:
        """Collect the tokens `base` issued; leaks of non-DIGIT secrets in what it was sent."""
        try:
            tokens = requests.get(f"{base}/_sandbox/tokens", timeout=5)
            cursor = self._request_cursor.get(base, 0)
            seen = requests.get(f"{base}/_sandbox/requests", params={"since": cursor}, timeout=5)
        except requests.RequestException:
            return []  # the sandbox is gone (a test stopped it): nothing to learn
        if tokens.ok:
            for token in tokens.json().get("tokens", []):
                self.add(token, "digit-token")
        if not seen.ok:
            return []
        sent = seen.json().get("requests", [])
        if sent:
            self._request_cursor[base] = max(int(r["seq"]) for r in sent)
        texts = [(f"a request to DIGIT {r['method']} {r['path']}", _request_text(r)) for r in sent]
        return self.leaks_in(texts, only=lambda kind: kind not in DIGIT_KINDS)


def _request_text(recorded: dict[str, Any]) -> str:
    headers = " ".join(f"{k}: {v}" for k, v in recorded.get("headers", {}).items())
    return f"{recorded.get('query', '')}\n{headers}\n{recorded.get('body', '')}"


def _mobile_pattern(mobiles: frozenset[str]) -> re.Pattern[str] | None:
    if not mobiles:
        return None
    return re.compile(r"(?<!\d)(?:" + "|".join(re.escape(m) for m in sorted(mobiles)) + r")(?!\d)")


def _excerpt(text: str, match: re.Match[str]) -> str:
    start, end = max(0, match.start() - 60), min(len(text), match.end() + 60)
    return text[start:end].replace("\n", "\\n")


# --- capturing log records the way production writes them ------------------------------------


class CaptureHandler(logging.Handler):
    """Formats a copy of each record with the production handler's pipeline and keeps the line."""

    def __init__(self, guard: SecretsGuard) -> None:
        super().__init__(logging.NOTSET)
        self.guard = guard
        self.set_name("secrets-guard")
        self._fallback: logging.Handler | None = None

    def _production(self) -> logging.Handler:
        for handler in logging.getLogger().handlers:
            if handler.get_name() == LOG_HANDLER_NAME:
                return handler
        if self._fallback is None:  # no app built yet: the pipeline create_app would install
            from integrator import logs

            self._fallback = logs.make_handler(_NullStream())
        return self._fallback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            production = self._production()
            duplicate = copy.copy(record)
            if not production.filter(duplicate):
                return
            self.guard.capture(production.format(duplicate))
        except Exception:  # a capture failure must never break the code under test
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> bool:
        # Handler.handle would run our (absent) filters and take our lock; emit is thread-safe.
        self.emit(record)
        return True


class _NullStream:
    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


# --- observing where secrets are made ----------------------------------------------------------


def _observe(
    owner: Any, name: str, after: Callable[[Any, tuple[Any, ...]], None]
) -> Callable[[], None]:
    """Wrap `owner.name` so `after(result, args)` sees each call; returns the undo."""
    original = owner.__dict__[name]
    func = original.__func__ if isinstance(original, classmethod | staticmethod) else original

    @functools.wraps(func)
    def observed(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        after(result, args)
        return result

    wrapped: Any = observed
    if isinstance(original, classmethod):
        wrapped = classmethod(observed)
    elif isinstance(original, staticmethod):
        wrapped = staticmethod(observed)
    setattr(owner, name, wrapped)
    return lambda: setattr(owner, name, original)


def _install_observers(guard: SecretsGuard) -> list[Callable[[], None]]:
    import werkzeug.security

    from integrator.settings import Settings
    from integrator.store.devices import DeviceStore

    def settings_made(_result: Any, args: tuple[Any, ...]) -> None:
        settings = args[0]
        guard.add(settings.digit_password, "settings")
        guard.add(settings.digit_client_secret, "settings")
        guard.add(getattr(settings, "secret_key", None), "session-secret-key")
        for entry in getattr(settings, "ops_users", ()) or ():
            guard.add(str(entry).split(":", 2)[-1], "ops-password-hash")

    def device_added(result: Any, _args: tuple[Any, ...]) -> None:
        guard.add(result[1], "device-key")

    def key_rotated(result: Any, _args: tuple[Any, ...]) -> None:
        guard.add(result, "device-key")

    original_hash = werkzeug.security.generate_password_hash

    @functools.wraps(original_hash)
    def hash_observed(password: str, *args: Any, **kwargs: Any) -> str:
        hashed = original_hash(password, *args, **kwargs)
        guard.add(password, "ops-password")
        guard.add(hashed, "ops-password-hash")
        return hashed

    werkzeug.security.generate_password_hash = hash_observed
    return [
        _observe(Settings, "__init__", settings_made),
        _observe(DeviceStore, "add", device_added),
        _observe(DeviceStore, "rotate_key", key_rotated),
        lambda: setattr(werkzeug.security, "generate_password_hash", original_hash),
    ]


# --- the plugin --------------------------------------------------------------------------------

_GUARD_KEY = pytest.StashKey[SecretsGuard]()
_UNDO_KEY = pytest.StashKey[list[Callable[[], None]]]()


def pytest_configure(config: pytest.Config) -> None:
    from integrator.sandbox.seed import seed_listing
    from integrator.settings import SANDBOX_PASSWORD

    guard = SecretsGuard()
    guard.add(SANDBOX_PASSWORD, "digit-password")
    guard.mobiles = frozenset(
        str(row["mobileNumber"]) for row in seed_listing() if row.get("mobileNumber")
    )
    handler = CaptureHandler(guard)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)  # what production logs (create_app sets the same)
    undo = _install_observers(guard)
    undo.append(lambda: root.removeHandler(handler))
    config.stash[_GUARD_KEY] = guard
    config.stash[_UNDO_KEY] = undo


def pytest_unconfigure(config: pytest.Config) -> None:
    for undo in reversed(config.stash.get(_UNDO_KEY, [])):
        undo()


@pytest.fixture(scope="session")
def secrets_guard(pytestconfig: pytest.Config) -> SecretsGuard:
    return pytestconfig.stash[_GUARD_KEY]


@pytest.fixture(autouse=True)
def _no_secret_leaks(request: pytest.FixtureRequest, secrets_guard: SecretsGuard) -> Iterator[None]:
    """After each test: its log lines, its tmp_path/*.log and DIGIT's requests hold no secret."""
    root = logging.getLogger()
    if not any(h.get_name() == "secrets-guard" for h in root.handlers):  # a test removed it
        root.addHandler(CaptureHandler(secrets_guard))
    # Asked for now, so they are torn down after this fixture looks at them.
    tmp_path: Path | None = (
        request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    )
    sandbox_url = (
        request.getfixturevalue("sandbox_url") if "sandbox_url" in request.fixturenames else None
    )
    start = len(secrets_guard.lines)
    secrets_guard.current_test = request.node.nodeid
    yield
    secrets_guard.current_test = None
    leaks: list[Leak] = []
    if sandbox_url is not None:
        leaks += secrets_guard.learn_sandbox(sandbox_url)
    texts = [(f"log line {i}", line) for i, line in enumerate(secrets_guard.lines_since(start))]
    if tmp_path is not None:
        for path in sorted(tmp_path.rglob("*.log")):
            texts.append((str(path.name), path.read_text("utf-8", errors="replace")))
    leaks += secrets_guard.leaks_in(texts)
    if leaks:
        pytest.fail(
            "secrets leaked:\n" + "\n".join(f"  {leak}" for leak in leaks[:20]), pytrace=False
        )


@pytest.fixture
def captured_logs(secrets_guard: SecretsGuard) -> Callable[[], list[str]]:
    """A function returning the log lines captured since this fixture was set up."""
    start = len(secrets_guard.lines)
    return lambda: secrets_guard.lines_since(start)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = session.config.stash.get(_GUARD_KEY, None)
    if guard is None or not guard.lines:
        return
    texts = [(f"log line of {line.test or 'no test'}", line.text) for line in guard.lines]
    leaks = guard.leaks_in(texts)
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "secrets guard: secrets in captured log lines:\n" + "\n".join(
        f"  {leak}" for leak in leaks[:50]
    )
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
