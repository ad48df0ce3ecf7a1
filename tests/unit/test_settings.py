"""Settings: defaults, required secrets, bad values name the variable, TLS verification stays on."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from integrator.settings import LOG_LEVELS, SANDBOX_PASSWORD, Settings, SettingsError

REAL_DIGIT = {
    "DIGIT_BASE_URL": "https://digit.example.gov.in",
    "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
    "DIGIT_PASSWORD": "s3cret-pass",
    "DIGIT_TENANT_ID": "pb.amritsar",
    "DATABASE_URL": "postgresql://integrator@db.internal:5432/integrator",
}


def test_an_empty_environment_runs_the_embedded_sandbox_and_redis_on_default_ports() -> None:
    settings = Settings.from_env({})
    assert settings.sandbox_mode
    assert settings.digit_base_url == "http://127.0.0.1:8090"
    assert settings.digit_password == SANDBOX_PASSWORD
    assert settings.redis_embedded
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.port == 8000
    assert (settings.web_workers, settings.web_threads) == (2 * (os.cpu_count() or 1), 32)
    assert settings.digit_user_type == "EMPLOYEE"
    assert settings.database_embedded
    assert settings.database_url == "postgresql://integrator@127.0.0.1:5440/integrator"


def test_a_real_digit_needs_its_ledger_named() -> None:
    env = {k: v for k, v in REAL_DIGIT.items() if k != "DATABASE_URL"}
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings.from_env({**REAL_DIGIT, "DATABASE_URL": "mysql://x/y"})


def test_ports_of_the_embedded_parts_follow_their_variables() -> None:
    settings = Settings.from_env({"SANDBOX_PORT": "9100", "REDIS_PORT": "6400", "PORT": "8100"})
    assert settings.digit_base_url == "http://127.0.0.1:9100"
    assert settings.sandbox_port == 9100
    assert settings.redis_url == "redis://127.0.0.1:6400/0"
    assert settings.port == 8100


def test_an_explicit_redis_url_is_not_embedded() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://redis.internal:6379/2"})
    assert settings.redis_url == "redis://redis.internal:6379/2"
    assert not settings.redis_embedded


@pytest.mark.parametrize("missing", ["DIGIT_PASSWORD", "DIGIT_USERNAME", "DIGIT_TENANT_ID"])
def test_a_real_digit_without_a_required_setting_stops_start_up_naming_it(missing: str) -> None:
    env = {k: v for k, v in REAL_DIGIT.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_a_real_digit_with_all_secrets_is_accepted() -> None:
    settings = Settings.from_env(REAL_DIGIT)
    assert not settings.sandbox_mode
    assert settings.digit_base_url == "https://digit.example.gov.in"
    assert settings.digit_state_tenant == "pb"


def test_the_password_is_not_in_the_settings_repr() -> None:
    assert "s3cret-pass" not in repr(Settings.from_env(REAL_DIGIT))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("REDIS_PORT", "x"),
        ("SANDBOX_PORT", "1.5"),
        ("WEB_WORKERS", "two"),
        ("WEB_THREADS", ""),  # empty means default, so this one is accepted: see below
        ("DIGIT_READ_TIMEOUT", "soon"),
        ("DIGIT_CONNECT_TIMEOUT", "fast"),
        ("DIGIT_POOL_SIZE", "many"),
        ("PG_PORT", "five"),
        ("DATABASE_POOL_SIZE", "lots"),
        ("ADVANCE_CAP", "lots"),
        ("CASH_IN_HAND_CAP", "NaN"),  # a number to Decimal, and every comparison with it raises
        ("OFFLINE_CASH_LIMIT", "Infinity"),
        ("DIGIT_TIMEZONE", "Mars/Olympus"),
        ("DIGIT_USER_TYPE", "ROBOT"),
        ("DIGIT_BASE_URL", "ftp://digit"),
        ("DIGIT_CA_BUNDLE", "/no/such/bundle.pem"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    env = dict(REAL_DIGIT) if name.startswith("DIGIT_") else {}
    env[name] = value
    if value == "":
        Settings.from_env(env)
        return
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        # whole numbers with a lower bound: a count or size of 1 at least
        ("DATABASE_POOL_SIZE", "-5", "DATABASE_POOL_SIZE must be at least 1, got -5"),
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE must be at least 1, got 0"),
        ("OFFLINE_BATCH_MAX", "0", "OFFLINE_BATCH_MAX must be at least 1, got 0"),
        ("WEB_WORKERS", "0", "WEB_WORKERS must be at least 1"),
        ("DIGIT_POOL_SIZE", "0", "DIGIT_POOL_SIZE must be at least 1"),
        ("DEVICE_RATE_LIMIT_PER_MINUTE", "0", "DEVICE_RATE_LIMIT_PER_MINUTE must be at least 1"),
        ("MDMS_CACHE_SECONDS", "0", "MDMS_CACHE_SECONDS must be at least 1"),
        ("RECONCILE_LOOKBACK_DAYS", "-7", "RECONCILE_LOOKBACK_DAYS must be at least 1"),
        # ... or of 0 at least, where 0 has a meaning
        ("TRUSTED_PROXY_COUNT", "-1", "TRUSTED_PROXY_COUNT must be 0 or more, got -1"),
        ("SERVED_BILL_TRUST_SECONDS", "-1", "SERVED_BILL_TRUST_SECONDS must be 0 or more"),
        ("CANCELLATION_WINDOW_MINUTES", "-30", "CANCELLATION_WINDOW_MINUTES must be 0 or more"),
        # ports
        ("PORT", "0", "PORT must be from 1 to 65535, got 0"),
        ("PG_PORT", "70000", "PG_PORT must be from 1 to 65535, got 70000"),
        ("SANDBOX_PORT", "-1", "SANDBOX_PORT must be from 1 to 65535"),
        # seconds as numbers: more than 0 and finite
        ("REGISTRATION_BUDGET_SECONDS", "-1", "REGISTRATION_BUDGET_SECONDS must be more than 0"),
        ("REGISTRATION_BUDGET_SECONDS", "0", "REGISTRATION_BUDGET_SECONDS must be more than 0"),
        ("SWEEPER_PERIOD_SECONDS", "inf", "SWEEPER_PERIOD_SECONDS must be a finite number"),
        ("DIGIT_READ_TIMEOUT", "nan", "DIGIT_READ_TIMEOUT must be a finite number"),
        ("LEASE_TTL_SECONDS", "nan", "LEASE_TTL_SECONDS must be a finite number"),
        ("DIGIT_CALL_DEADLINE_SECONDS", "0", "DIGIT_CALL_DEADLINE_SECONDS must be more than 0"),
        # money: 0 or more
        ("ADVANCE_CAP", "-100", "ADVANCE_CAP must be 0 or more, got -100"),
        ("CASH_IN_HAND_CAP", "-1", "CASH_IN_HAND_CAP must be 0 or more, got -1"),
        ("OFFLINE_CASH_LIMIT", "-0.01", "OFFLINE_CASH_LIMIT must be 0 or more"),
        # one of a list
        ("WEB_WORKER_CLASS", "foo", "WEB_WORKER_CLASS must be one of gevent, gthread, got 'foo'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        # forms
        ("BIND", "not-an-ip", "BIND must be an IP address to listen on"),
        ("BIND", "0.0.0.0:8000", "BIND must be an IP address to listen on"),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL must be a redis://, rediss:// or unix:// URL"),
        ("DIGIT_PROXY_URL", "proxy:3128", "DIGIT_PROXY_URL must be a http:// or https:// URL"),
        ("DIGIT_TENANT_ID", "PB.Amritsar", "DIGIT_TENANT_ID must be a DIGIT tenant id"),
        ("DIGIT_STATE_TENANT", "pb amritsar", "DIGIT_STATE_TENANT must be a DIGIT tenant id"),
        ("COLLECTABLE_SERVICES", "ws,PT", "COLLECTABLE_SERVICES must list at least one"),
        ("COLLECTABLE_SERVICES", ",", "COLLECTABLE_SERVICES must list at least one"),
        ("DIGIT_COLLECT_ROLE_CODES", " , ", "DIGIT_COLLECT_ROLE_CODES must list at least one"),
        # between settings
        (
            "WEBHOOK_SWEEP_LOOKBACK_SECONDS",
            "60",
            "WEBHOOK_SWEEP_LOOKBACK_SECONDS (60) must exceed WEBHOOK_SWEEP_GRACE_SECONDS (120)",
        ),
    ],
)
def test_a_value_out_of_its_range_stops_start_up_naming_the_variable_and_the_rule(
    name: str, value: str, rule: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value}, dotenv=False)
    assert any(rule in problem for problem in refused.value.problems), refused.value.problems


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        # 0 where it means "off" or "none" (README's table, the tests, the chaos run, the bench)
        ("SERVED_BILL_TRUST_SECONDS", "0", "served_bill_trust_seconds", 0),
        ("CASH_IN_HAND_CAP", "0", "cash_in_hand_cap", Decimal(0)),
        ("OFFLINE_CASH_LIMIT", "0", "offline_cash_limit", Decimal(0)),
        ("ADVANCE_CAP", "0", "advance_cap", Decimal(0)),
        ("TRUSTED_PROXY_COUNT", "0", "trusted_proxy_count", 0),
        ("RECEIPT_LOOKUPS_PER_MINUTE", "0", "receipt_lookups_per_minute", 0),
        ("CANCELLATION_WINDOW_MINUTES", "0", "cancellation_window_minutes", 0),
        ("WEBHOOK_SWEEP_GRACE_SECONDS", "0", "webhook_sweep_grace_seconds", 0),
        ("LEASE_TTL_SECONDS", "0", "lease_ttl_seconds", 30.0),  # 0: the default
        # fractions of a second and small values the tests and the chaos run use
        ("DIGIT_PROBE_SECONDS", "0.5", "digit_probe_seconds", 0.5),
        ("DIGIT_CONNECT_TIMEOUT", "0.5", "digit_connect_timeout", 0.5),
        ("REGISTRATION_BUDGET_SECONDS", "0.2", "registration_budget_seconds", 0.2),
        ("WEBHOOK_SWEEP_GRACE_SECONDS", "2", "webhook_sweep_grace_seconds", 2),
        ("DEVICE_RATE_LIMIT_PER_MINUTE", "100000000", "device_rate_limit_per_minute", 100000000),
        ("OFFLINE_CASH_LIMIT", "100000000", "offline_cash_limit", Decimal(100000000)),
        ("ADVANCE_CAP", "99.50", "advance_cap", Decimal("99.50")),
        # enumerations in any case, forms of an address
        ("LOG_LEVEL", "warning", "log_level", "WARNING"),
        ("WEB_WORKER_CLASS", "gthread", "web_worker_class", "gthread"),
        ("BIND", "0.0.0.0", "bind", "0.0.0.0"),
        ("BIND", "::", "bind", "::"),
        ("BIND", "localhost", "bind", "localhost"),
        ("REDIS_URL", "rediss://:pw@redis.internal:6380/1", "redis_embedded", False),
        ("DIGIT_PROXY_URL", "http://proxy:3128", "digit_proxy_url", "http://proxy:3128"),
        ("COLLECTABLE_SERVICES", "WS,FIRENOC", "collectable_services", ("WS", "FIRENOC")),
        ("PORT", "65535", "port", 65535),
    ],
)
def test_values_at_the_edge_of_their_rule_are_accepted(
    name: str, value: str, field: str, expected: object
) -> None:
    assert getattr(Settings.from_env({name: value}, dotenv=False), field) == expected


def test_every_out_of_range_value_is_reported_at_once() -> None:
    # the review's example: each of these used to start (only the first reading was type-checked)
    env = {
        "DATABASE_POOL_SIZE": "-5",
        "WEB_WORKER_CLASS": "foo",
        "LOG_LEVEL": "loud",
        "REGISTRATION_BUDGET_SECONDS": "-1",
        "ADVANCE_CAP": "-100",
        "OFFLINE_BATCH_MAX": "0",
        "CASH_IN_HAND_CAP": "-1",
        "BIND": "not-an-ip",
    }
    settings, problems = Settings.read_env(env, dotenv=False)
    assert sorted(p.split(" ")[0] for p in problems) == sorted(env)
    # each bad value is replaced by its default, so `integrator check` can go on
    assert (settings.database_pool_size, settings.bind, settings.log_level) == (
        20,
        "127.0.0.1",
        "INFO",
    )


def test_tls_verification_is_never_off(tmp_path: Path) -> None:
    assert Settings.from_env(REAL_DIGIT).digit_verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with_bundle = Settings.from_env({**REAL_DIGIT, "DIGIT_CA_BUNDLE": str(bundle)})
    assert with_bundle.digit_verify == str(bundle)
    assert with_bundle.digit_verify is not False


def test_the_dotenv_file_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("PORT=8123\nSANDBOX_PORT=9123\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("SANDBOX_PORT", raising=False)
    monkeypatch.delenv("DIGIT_BASE_URL", raising=False)
    settings = Settings.from_env()
    assert settings.port == 8123
    assert settings.sandbox_port == 9123


def test_every_setting_is_listed_in_env_example() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    source = (Path(__file__).parents[2] / "integrator" / "settings.py").read_text()
    import re

    names = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source)) | set(
        re.findall(r"'([A-Z][A-Z0-9_]+)'", source)
    )
    names -= {"EMPLOYEE", "SYSTEM", "CITIZEN", "BUSINESS", "INTEGRATOR_SYSTEM"}
    names -= set(LOG_LEVELS)
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    assert names - listed == set()


def test_every_setting_in_env_example_is_in_the_readme_table() -> None:
    import re

    root = Path(__file__).parents[2]
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (root / "README.md").read_text(), re.M))
    assert listed == table
