"""The README and the compose file keep up with the code."""

from __future__ import annotations

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
    for name in ("postgres", "minio"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
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
