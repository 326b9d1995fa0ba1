"""Settings: one object, read once at the edge (CLI / factories) and passed down."""

from __future__ import annotations

import json
import re
import secrets
from datetime import date
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "SUPPORTDESK_"
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
# The async drivers we ship; plain postgresql:// (and sqlite://) are mapped onto them.
DATABASE_DRIVERS = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# aiogram's own check (aiogram.utils.token): digits, a colon, then no whitespace.
TOKEN_FORMAT = re.compile(r"\d+:\S+")


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
    telegram_api_local_dir: str = Field(
        "",
        description="A self-hosted Bot API server in --local mode: its --dir as mounted here "
        "(files are read from it instead of downloaded); empty means HTTP downloads.",
    )
    telegram_api_server_dir: str = Field(
        "",
        description="That directory as the Bot API server names it, when mounted elsewhere here "
        "(default: the same path).",
    )
    webhook_url: str = Field(
        "", description="Public https URL of the webhook; empty means long polling."
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="Secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token."
    )
    bot_rate_per_second: float = Field(
        1.0,
        gt=0,
        description="Messages per second one Telegram user is handled at (more are queued, not dropped).",
    )
    bot_rate_burst: int = Field(
        5,
        ge=1,
        description="Messages one Telegram user may send at once before the rate limit queues them.",
    )
    bot_media_max_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        description="Largest Telegram file (bytes) stored as a ticket attachment.",
    )
    unfiled_after: int = Field(
        15,
        ge=1,
        description="Minutes a customer message waits for their ticket choice (asked again halfway) before it is filed on their most recent open ticket.",
    )
    telegram_bot_username: str = Field(
        "", description="The bot's @username (without @), for t.me deep links such as link codes."
    )
    office_public_holidays: bool = Field(
        True, description="Closed on Dutch public holidays (computed for every year)."
    )
    office_holidays: list[date] = Field(
        default_factory=list,
        description="Extra closed dates (JSON list, YYYY-MM-DD), e.g. Christmas Eve.",
    )

    admin_host: str = Field("127.0.0.1", description="Address the admin web server binds to.")
    admin_port: int = Field(8080, ge=0, le=65535, description="Port of the admin web server.")
    public_url: str = Field(
        "", description="External URL of the admin (https:// turns on Secure cookies and HSTS)."
    )
    trusted_proxies: str = Field(
        "",
        description="Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For / "
        "Forwarded header names the client; empty means trust none and use the peer address.",
    )
    login_failures_per_username: int = Field(
        5,
        ge=1,
        description="Failed logins per account (any spelling) in 15 minutes before every "
        "further try waits 30 s, doubling up to 15 min.",
    )
    login_failures_per_address: int = Field(
        10,
        ge=1,
        description="Failed logins from one client address (any accounts) in 15 minutes "
        "before every further try waits 30 s, doubling up to 15 min.",
    )

    s3_endpoint: str = Field(
        "",
        description="S3/MinIO URL such as http://minio:9000 (scheme decides TLS); empty means the local-directory store.",
    )
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key.")
    s3_bucket: str = Field("recordings", description="Bucket for recordings and attachments.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_connect_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds to connect to S3 before trying once more."
    )
    s3_read_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds S3 may stay silent during a call before it answers 503.",
    )

    recording_training_hold_days: int = Field(
        365, ge=1, description="Default review period of a training hold, in days."
    )
    recording_evidence_hold_days: int = Field(
        730, ge=1, description="Default review period of an evidence hold, in days."
    )
    recording_opus_bitrate: str = Field(
        "24k", pattern=r"^\d{1,3}k$", description="Ogg/Opus bitrate of the archive, e.g. 24k."
    )
    recording_max_bytes: int = Field(
        500 * 1024 * 1024, ge=1, description="Largest recording upload/import, in bytes."
    )
    recording_max_seconds: int = Field(
        4 * 3600, ge=1, description="Longest recording accepted, in seconds."
    )
    recording_listen_minutes: int = Field(
        30, ge=1, description="Range requests within this many minutes count as one play (audit)."
    )

    redis_url: str = Field(
        "",
        description="Redis URL for bot FSM storage and event isolation across instances; empty means in-process.",
    )
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token Prometheus must send to /metrics; empty means /metrics is open (keep it internal).",
    )

    # A JSON string (not dict): a parse error then names this setting in one line.
    retention_periods: str = Field(
        "{}",
        description='Per-deployment retention periods in days by rule, as JSON, e.g. {"recordings": 60}; rules are listed on the admin retention page.',
    )
    retention_sweep_interval: int = Field(
        3600,
        ge=0,
        description="Seconds between retention sweeps inside serve; 0 turns the periodic sweep off.",
    )
    retention_batch_size: int = Field(
        500, ge=1, le=10000, description="Rows the retention sweeper deletes per transaction."
    )
    privacy_statement_url: str = Field(
        "", description="Link to the privacy statement that the bot's /privacy shows; empty: none."
    )
    privacy_erasure_tickets: Literal["anonymise", "delete"] = Field(
        "anonymise",
        description="What an erasure request does with the subject's tickets: 'anonymise' "
        "(personal fields blanked, texts replaced; statistics survive) or 'delete'.",
    )

    @field_validator("retention_periods")
    @classmethod
    def _retention_periods(cls, value: str) -> str:
        try:
            parsed = json.loads(value or "{}")
        except ValueError:
            raise ValueError('must be JSON such as {"recordings": 60}') from None
        if not isinstance(parsed, dict) or not all(
            isinstance(days, int) and not isinstance(days, bool) and days >= 0
            for days in parsed.values()
        ):
            raise ValueError("must map rule keys to whole numbers of days (0 or more)")
        return json.dumps(parsed, sort_keys=True)

    @property
    def retention_period_days(self) -> dict[str, int]:
        return json.loads(self.retention_periods)

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

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, value: str) -> str:
        # Runs after _http_url. Telegram only calls webhooks over https.
        if value and not value.startswith("https://"):
            raise ValueError("must start with https:// (Telegram only calls https webhooks)")
        return value

    @field_validator("telegram_api_local_dir", "telegram_api_server_dir")
    @classmethod
    def _absolute_dir(cls, value: str) -> str:
        # getFile answers with absolute paths in --local mode; a relative base would depend on
        # the working directory the service happens to start in.
        value = value.strip()
        if value and not value.startswith("/"):
            raise ValueError("must be an absolute path (e.g. /var/lib/telegram-bot-api)")
        return value.rstrip("/") or value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        networks = []
        for item in value.replace(";", ",").split(","):
            if not item.strip():
                continue
            try:
                networks.append(str(ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not an IP address or CIDR network") from None
        return ",".join(networks)

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(item) for item in self.trusted_proxies.split(",") if item]

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.strip().upper()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. postgresql+asyncpg://...)") from None
        driver = DATABASE_DRIVERS.get(url.drivername)
        if driver is None:
            raise ValueError(
                f"unsupported database {url.drivername!r}; use sqlite+aiosqlite:///path "
                "or postgresql+asyncpg://user@host/db"
            )
        if driver == url.drivername:
            return value
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token and not TOKEN_FORMAT.fullmatch(token):
            # Never echo the value: it is a secret, even when malformed.
            raise ValueError("not a bot token (expected <digits>:<secret> from @BotFather)")
        return value

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


# pydantic-settings parses complex values (lists, dicts) as JSON before validation and
# reports a failure as this message, not a ValidationError.
_SOURCE_ERROR = re.compile(r'error parsing value for field "(\w+)"')


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ConfigError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        match = _SOURCE_ERROR.search(str(exc))
        field = match.group(1).upper() if match else "?"
        raise ConfigError(
            f"configuration error: {ENV_PREFIX}{field}: not valid JSON "
            '(e.g. ["2026-12-24", "2026-12-31"] for dates)'
        ) from None


def ensure_data_dir(settings: Settings) -> None:
    """Create DATA_DIR (SQLite file, local store, secrets, temp files) or say in one line
    why it cannot be."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"configuration error: {ENV_PREFIX}DATA_DIR: cannot create {settings.data_dir}: "
            f"{reason}"
        ) from None
