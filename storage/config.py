"""Settings: one object, read once at the edge (CLI / factories) and passed down."""

from __future__ import annotations

import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SUPPORTDESK_"
DEFAULT_TELEGRAM_API = "https://api.telegram.org"


class ConfigError(Exception):
    """A setting has a bad value; the message is one line naming the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        Path("./var"),
        description="Directory for the SQLite file, the local object store and generated secrets.",
    )
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means a SQLite file under DATA_DIR."
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Signs sessions and tokens; empty means one is generated once and kept in DATA_DIR/secret_key.",
    )
    timezone: str = Field("Europe/Amsterdam", description="Office-hours and display time zone.")
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: str = Field("text", description="'text' or 'json'.")

    telegram_token: SecretStr = Field(
        SecretStr(""), description="Bot token from @BotFather; empty means the bot does not run."
    )
    telegram_api_base: str = Field(
        DEFAULT_TELEGRAM_API,
        description="Base URL of the Bot API server (self-hosted server or a test fake).",
    )
    webhook_url: str = Field(
        "", description="Public https URL of the webhook; empty means long polling."
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="Secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token."
    )

    admin_host: str = Field("127.0.0.1", description="Address the admin web server binds to.")
    admin_port: int = Field(8080, ge=0, le=65535, description="Port of the admin web server.")
    public_url: str = Field(
        "", description="External URL of the admin (https:// turns on Secure cookies and HSTS)."
    )

    s3_endpoint: str = Field(
        "",
        description="S3/MinIO URL such as http://minio:9000 (scheme decides TLS); empty means the local-directory store.",
    )
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key.")
    s3_bucket: str = Field("recordings", description="Bucket for recordings and attachments.")
    s3_region: str = Field("us-east-1", description="S3 region.")

    redis_url: str = Field(
        "",
        description="Redis URL for bot FSM storage and event isolation across instances; empty means in-process.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("s3_endpoint", "telegram_api_base", "webhook_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("must be 'text' or 'json'")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'supportdesk.sqlite3').resolve()}"

    @property
    def local_store_dir(self) -> Path:
        return self.data_dir / "objects"

    def effective_secret_key(self) -> str:
        """The configured key, or one generated on first start and kept in DATA_DIR."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]).upper() if first["loc"] else "?"
    return f"configuration error: {ENV_PREFIX}{field}: {first['msg']}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ConfigError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
