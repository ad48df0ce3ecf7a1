"""Settings: defaults, required secrets, bad values name the variable, TLS verification stays on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from integrator.settings import SANDBOX_PASSWORD, Settings, SettingsError

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
    names -= {"EMPLOYEE", "SYSTEM", "CITIZEN", "BUSINESS", "INTEGRATOR_SYSTEM", "INFO"}
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    assert names - listed == set()


def test_every_setting_in_env_example_is_in_the_readme_table() -> None:
    import re

    root = Path(__file__).parents[2]
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (root / "README.md").read_text(), re.M))
    assert listed == table
