"""The README and the compose file keep up with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from storage.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"SUPPORTDESK_{name.upper()}"
        for name in Settings.model_fields
        if f"`SUPPORTDESK_{name.upper()}`" not in readme
    ]
    assert missing == []


def test_compose_pins_images_and_checks_health() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "minio", "app"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name} image not pinned"
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["minio"]["image"].split(":", 1)[1].startswith("RELEASE.")
    depends = services["app"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["minio"]["condition"] == "service_healthy"
    env = services["app"]["environment"]
    for required in (
        "SUPPORTDESK_DATABASE_URL",
        "SUPPORTDESK_S3_ENDPOINT",
        "SUPPORTDESK_S3_ACCESS_KEY",
        "SUPPORTDESK_S3_SECRET_KEY",
        "SUPPORTDESK_SECRET_KEY",
    ):
        assert env.get(required), f"app environment lacks {required}"
    assert env["SUPPORTDESK_DATABASE_URL"].startswith("postgresql+asyncpg://")
    # Every SUPPORTDESK_* variable the app gets is a real setting (no typos)...
    assert {f"SUPPORTDESK_{name.upper()}" for name in Settings.model_fields} >= set(env)
    # ...and every ${VAR} the compose file reads is documented in .env.example.
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    assert services["app"]["stop_grace_period"], "SIGTERM needs time to drain"


def test_env_example_secrets_are_placeholders() -> None:
    example = (ROOT / ".env.example").read_text()
    assert "change every secret" in example.lower()
    for line in example.splitlines():
        key, _, value = line.partition("=")
        if any(word in key for word in ("PASSWORD", "SECRET_KEY")):
            assert value.startswith("change-me"), f"{key} must be an obvious placeholder"


def test_dockerfile_runs_serve_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    base = next(line for line in lines if line.startswith("FROM "))
    assert "slim" in base and not base.endswith(":latest")
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any("ffmpeg" in line for line in lines)
    assert "/healthz" in text[text.index("HEALTHCHECK") :]
    assert 'ENTRYPOINT ["supportdesk"]' in lines and 'CMD ["serve"]' in lines


def test_readme_names_no_stale_migration_head() -> None:
    """The backup-check example printed "at head 0011" long after newer migrations."""
    from storage import migrate

    readme = (ROOT / "README.md").read_text()
    heads = re.findall(r"at head (\S+)", readme)
    assert heads and all(h in ("<newest", migrate.head_revision()) for h in heads), heads
