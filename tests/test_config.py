"""Settings: defaults for the embedded setup, and clear errors for bad values."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from storage.config import ConfigError, ensure_data_dir, load_settings
from storage.objectstore import LocalObjectStore, S3ObjectStore, create_object_store


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SUPPORTDESK_"):
            monkeypatch.delenv(key)


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.effective_database_url == (
        f"sqlite+aiosqlite:///{(tmp_path / 'var' / 'supportdesk.sqlite3').resolve()}"
    )
    assert (settings.admin_host, settings.admin_port) == ("127.0.0.1", 8080)
    assert settings.s3_bucket == "recordings" and settings.timezone == "Europe/Amsterdam"
    assert isinstance(create_object_store(settings), LocalObjectStore)


def test_environment_and_secrets(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTDESK_S3_ENDPOINT", "https://minio.example.nl:9000/")
    monkeypatch.setenv("SUPPORTDESK_S3_SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("SUPPORTDESK_TELEGRAM_TOKEN", "123:abc")
    settings = load_settings(data_dir=tmp_path)
    assert settings.s3_endpoint == "https://minio.example.nl:9000"
    assert "s3cr3t" not in repr(settings) and "123:abc" not in repr(settings)
    store = create_object_store(settings)
    assert isinstance(store, S3ObjectStore) and store.client._base_url.is_https
    assert (store.connect_timeout, store.read_timeout) == (5.0, 30.0)  # the defaults


def test_s3_deadlines_come_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTDESK_S3_ENDPOINT", "http://minio:9000")
    monkeypatch.setenv("SUPPORTDESK_S3_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("SUPPORTDESK_S3_READ_TIMEOUT", "7.5")
    store = create_object_store(load_settings(data_dir=tmp_path))
    assert isinstance(store, S3ObjectStore)
    assert (store.connect_timeout, store.read_timeout) == (2.0, 7.5)
    assert store.deadline == 2.0 * 2 + 7.5  # one connect retry, then one read


def test_generated_secret_key_is_kept_private_and_stable(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = settings.effective_secret_key()
    assert len(first) >= 48 and first == settings.effective_secret_key()
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPPORTDESK_ADMIN_PORT", "99999"),
        ("SUPPORTDESK_S3_ENDPOINT", "minio:9000"),
        ("SUPPORTDESK_TIMEZONE", "Europe/Atlantis"),
        ("SUPPORTDESK_LOG_FORMAT", "xml"),
        ("SUPPORTDESK_LOG_LEVEL", "LOUD"),
        ("SUPPORTDESK_OFFICE_HOLIDAYS", "notjson"),
        ("SUPPORTDESK_DATABASE_URL", "foo://"),
        ("SUPPORTDESK_DATABASE_URL", "mysql+aiomysql://u@h/db"),
        ("SUPPORTDESK_DATABASE_URL", "not a url"),
        ("SUPPORTDESK_REDIS_URL", "foo://bar"),
        ("SUPPORTDESK_S3_READ_TIMEOUT", "0"),
        ("SUPPORTDESK_S3_CONNECT_TIMEOUT", "soon"),
        ("SUPPORTDESK_TELEGRAM_TOKEN", "notatoken"),
        ("SUPPORTDESK_TELEGRAM_TOKEN", "abc:def"),
        ("SUPPORTDESK_WEBHOOK_URL", "http://desk.example.com/telegram/hook"),
        ("SUPPORTDESK_TELEGRAM_API_LOCAL_DIR", "var/telegram-bot-api"),
        ("SUPPORTDESK_TELEGRAM_API_SERVER_DIR", "telegram-bot-api"),
    ],
)
def test_bad_value_names_the_setting(monkeypatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"configuration error: {variable}:")
    assert "\n" not in message


def test_a_bad_token_is_not_echoed(monkeypatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_TELEGRAM_TOKEN", "secret-but-malformed")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "secret-but-malformed" not in str(info.value)


def test_accepted_urls_and_levels(monkeypatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_WEBHOOK_URL", "https://desk.example.com/telegram/hook")
    monkeypatch.setenv("SUPPORTDESK_LOG_LEVEL", "debug")
    monkeypatch.setenv("SUPPORTDESK_REDIS_URL", "rediss://cache:6380/0")
    monkeypatch.setenv("SUPPORTDESK_TELEGRAM_TOKEN", "123456:AA-bb_CC")
    settings = load_settings()
    assert settings.webhook_url == "https://desk.example.com/telegram/hook"
    assert settings.log_level == "DEBUG"
    # Plain postgresql:// (what most hosting panels hand out) means our asyncpg driver.
    mapped = load_settings(database_url="postgresql://desk:pw@db:5432/desk")
    assert mapped.database_url == "postgresql+asyncpg://desk:pw@db:5432/desk"
    given = "sqlite+aiosqlite:////srv/desk.sqlite3"
    assert load_settings(database_url=given).database_url == given


def test_data_dir_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = load_settings(data_dir=blocker / "var")
    with pytest.raises(ConfigError) as info:
        ensure_data_dir(settings)
    message = str(info.value)
    assert message.startswith("configuration error: SUPPORTDESK_DATA_DIR: cannot create")
    assert "\n" not in message
    ensure_data_dir(load_settings(data_dir=tmp_path / "new" / "var"))
    assert (tmp_path / "new" / "var").is_dir()
