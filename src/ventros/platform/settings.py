"""All configuration, from the environment (prefix VENTROS_); built at start-up, not import."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_ROLE = "ventros_app"
SYSTEM_ROLE = "ventros_system"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENTROS_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    home: Path = Path(".ventros")

    # Owner connection (migrations, role management). The app itself connects as APP_ROLE.
    database_url: str | None = None
    app_database_password: str | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10

    rabbitmq_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    redis_url: str | None = None

    secret_key: str | None = None
    jwt_ttl_seconds: int = Field(default=86_400, gt=0)
    jwt_previous_secret_key: str | None = None

    demo: bool = False
    demo_email: str = "admin@demo.ventros.local"
    demo_password: str = "ventros-demo"  # noqa: S105 - documented demo login
    demo_tenant_name: str = "Demo"

    max_body_bytes: int = 1 << 20
    media_max_body_bytes: int = 16 << 20
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True
    require_services: bool = False

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept under `home`."""
        if self.secret_key:
            return self.secret_key
        path = self.home / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    def resolved_app_password(self) -> str:
        """Password of the application roles: configured, else derived from the secret key."""
        if self.app_database_password:
            return self.app_database_password
        import hashlib

        return hashlib.sha256(("db-role:" + self.resolved_secret_key()).encode()).hexdigest()[:32]
