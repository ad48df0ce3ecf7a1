"""DATABASE_URL and PG_PORT: what `make run`'s private cluster and the ledger are configured by."""

from __future__ import annotations

import pytest

from integrator.settings import Settings, SettingsError

REAL_DIGIT = {
    "DIGIT_BASE_URL": "https://digit.example.org",
    "DIGIT_USERNAME": "INTEGRATOR_SYSTEM",
    "DIGIT_PASSWORD": "a-long-password",
    "DIGIT_TENANT_ID": "pb.amritsar",
}


@pytest.mark.parametrize(
    ("env", "url", "embedded"),
    [
        ({}, "postgresql://integrator@127.0.0.1:5440/integrator", True),
        ({"PG_PORT": "5999"}, "postgresql://integrator@127.0.0.1:5999/integrator", True),
        (
            {"DATABASE_URL": "postgresql://ledger@db.internal:5432/ledger"},
            "postgresql://ledger@db.internal:5432/ledger",
            False,
        ),
        (
            {**REAL_DIGIT, "DATABASE_URL": "postgresql://ledger@db.internal/ledger"},
            "postgresql://ledger@db.internal/ledger",
            False,
        ),
    ],
)
def test_database_url_defaults_to_the_private_cluster_only_with_the_sandbox(
    env: dict[str, str], url: str, embedded: bool
) -> None:
    settings = Settings.from_env(env)
    assert settings.database_url == url
    assert settings.database_embedded is embedded


def test_database_url_is_required_with_a_real_digit() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is required when DIGIT_BASE_URL"):
        Settings.from_env(REAL_DIGIT)


@pytest.mark.parametrize("url", ["redis://127.0.0.1/0", "127.0.0.1:5432", "sqlite:///x.db"])
def test_database_url_must_be_a_postgresql_url(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL must be a postgresql:// URL"):
        Settings.from_env({"DATABASE_URL": url})


def test_the_database_url_stays_out_of_the_settings_repr() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:hunter2-secret@db/ledger"})
    assert "hunter2" not in repr(settings)


def test_pg_port_must_be_a_number() -> None:
    with pytest.raises(SettingsError, match="PG_PORT must be an integer"):
        Settings.from_env({"PG_PORT": "fifty"})
