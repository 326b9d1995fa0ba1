"""Logging set-up for `supportdesk serve`: text or one JSON object per line.

Structured fields travel in `extra={"fields": {...}}` so both formats show them. The handler
scrubs the configured secrets from every line as a last line of defence; callers still
never log message text, phone numbers or tokens in the first place.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from storage.config import Settings

FIELDS = "fields"
_MARKER = "_supportdesk_handler"
# Libraries whose DEBUG output carries SQL parameters or request bodies (message text,
# phone numbers): kept at WARNING even when SUPPORTDESK_LOG_LEVEL=DEBUG.
QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "asyncpg", "urllib3", "minio", "redis")


def fields(**values: Any) -> dict[str, dict[str, Any]]:
    """`log.info("...", extra=fields(route=..., status=...))`."""
    return {FIELDS: values}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = getattr(record, FIELDS, None) or {}
        if extra:
            line += " " + " ".join(f"{key}={value}" for key, value in extra.items())
        return line


class ScrubbingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Masks known secrets (bot token, keys) anywhere in the rendered line, tracebacks and
    structured fields included."""

    def __init__(self, stream: IO[str], secrets: Iterable[str]) -> None:
        super().__init__(stream)
        # Short values would mask innocent text; real secrets are long.
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, "[redacted]")
        return line


def secrets_of(settings: Settings) -> list[str]:
    values = [
        settings.telegram_token,
        settings.webhook_secret,
        settings.s3_secret_key,
        settings.secret_key,
        settings.metrics_token,
    ]
    return [value.get_secret_value() for value in values]


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Install one root handler in the configured format (replacing the one a previous call
    installed) and return it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(old)
    handler = ScrubbingHandler(stream or sys.stderr, secrets_of(settings))
    setattr(handler, _MARKER, True)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
