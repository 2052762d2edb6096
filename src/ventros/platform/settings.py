"""All configuration, from the environment (prefix VENTROS_); built at start-up, not import."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    # The two roles have separate passwords: leaking the app's (RLS applies) must not leak
    # the system role's (bypasses RLS). Unset, each is derived from the secret key on its
    # own; with APP_DATABASE_PASSWORD set, a process gets the system role only if
    # SYSTEM_DATABASE_PASSWORD is set too (give it to relay and worker processes, not `api`).
    app_database_password: str | None = None
    system_database_password: str | None = None
    db_pool_size: int = 10
    # A pre-ping costs one round trip per checkout (a fifth of a webhook's); recycling
    # connections and SQLAlchemy's invalidation on disconnect errors cover a restart.
    db_pool_pre_ping: bool = False
    db_pool_recycle_seconds: int = 1800
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
    # The demo's WhatsApp: a WAHA simulator (`ventros waha-sim`) started by `ventros run`
    # beside the API, with a demo channel pointing at it. Port 0 = any free port; when the
    # port is taken another one is used.
    waha_sim_demo: bool = True
    waha_sim_host: str = "127.0.0.1"
    waha_sim_port: int = Field(default=3000, ge=0, le=65535)

    max_body_bytes: int = 1 << 20
    media_max_body_bytes: int = 16 << 20
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON unless stdout is a terminal
    # A line per HTTP request: WAHA's webhooks alone are one per WhatsApp event. Requests are
    # counted and timed in /metrics and traced; errors are logged either way.
    access_log: bool = False
    require_services: bool = False

    # Event backbone. The outbox relay: LISTEN/NOTIFY ("listen", default) or Temporal.
    outbox_driver: Literal["listen", "temporal"] = "listen"
    relay_batch_size: int = Field(default=500, gt=0)
    relay_poll_interval_seconds: float = Field(default=5.0, gt=0)  # safety net behind NOTIFY
    relay_standby_retry_seconds: float = Field(default=1.0, gt=0)  # a standby tries the lock
    relay_max_attempts: int = Field(default=10, gt=0)  # per row, then marked failed
    relay_retry_base_seconds: float = Field(default=1.0, gt=0)
    relay_retry_max_seconds: float = Field(default=300.0, gt=0)
    outbox_retention_hours: float = Field(default=24.0, ge=0)  # published rows, then pruned
    outbox_prune_interval_seconds: float = Field(default=300.0, gt=0)
    # Bus: RabbitMQ when rabbitmq_url is set, else the in-process bus (PostgreSQL-backed).
    rabbitmq_prefix: str = ""  # prepended to every exchange and queue name (isolation)
    bus_prefetch: int = Field(default=10, gt=0)  # RabbitMQ: unacknowledged per consumer
    bus_inprocess_prefetch: int = Field(default=100, gt=0)  # in-process bus: rows leased at once
    bus_max_attempts: int = Field(default=5, gt=0)  # deliveries per message, then dead letter
    bus_retry_base_seconds: float = Field(default=1.0, gt=0)
    bus_retry_max_seconds: float = Field(default=300.0, gt=0)
    bus_message_ttl_seconds: int = Field(default=86_400, gt=0)
    bus_poll_interval_seconds: float = Field(default=2.0, gt=0)  # in-process safety net
    bus_lease_seconds: float = Field(default=60.0, gt=0)  # in-process: redelivery after a crash
    metrics_interval_seconds: float = Field(default=10.0, gt=0)  # queue depth, outbox lag
    # A background role (worker, relay, ingest, temporal-worker) serves its /metrics here;
    # the API serves them on its own port. Unset: not served (`ventros run` shares the API's).
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    # `ventros run`: "process" runs the background roles in a child process of their own, so
    # the API keeps a core while consumers, ingest and the Temporal worker work (one Python
    # process is one core); "inline" runs them in the API's process (one process in all).
    run_background: Literal["process", "inline"] = "process"
    # How much `ventros run`'s background process yields the CPU to its API (Unix nice,
    # 0-19): under more load than the machine can take, webhooks and the web app are still
    # answered at once and the backlog waits in the database, where nothing is lost.
    background_nice: int = Field(default=5, ge=0, le=19)

    # Temporal worker (platform.temporal): the task queue of the application's workflows.
    temporal_task_queue: str = "ventros"
    # Outbound webhooks. Private, loopback and link-local targets only when allowed (dev, tests).
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0)  # per attempt, all included
    webhooks_disable_after_seconds: float = Field(default=3 * 86_400.0, gt=0)  # failing that long
    # A tenant's LLM provider (analysis) on a private address: a self-hosted model, tests.
    llm_allow_private: bool = False
    # Ad platforms (tracking enrichment and conversions); base URLs point tests at stand-ins.
    ads_graph_base_url: str = "https://graph.facebook.com"
    ads_graph_version: str = "v21.0"
    ads_google_base_url: str = "https://googleads.googleapis.com"
    ads_google_version: str = "v22"
    ads_tiktok_base_url: str = "https://business-api.tiktok.com"
    ads_timeout_seconds: float = Field(default=15.0, gt=0)
    ads_insights_lookback_days: int = Field(default=7, ge=0, le=90)  # days before the lead
    # Outbound WhatsApp through WAHA (channels.sender). A message still unsent after the
    # deadline is `failed`; timeouts and 5xx are retried with exponential backoff before it.
    waha_timeout_seconds: float = Field(default=15.0, gt=0)  # per HTTP call
    waha_send_deadline_seconds: float = Field(default=120.0, gt=0)
    waha_retry_attempts: int = Field(default=6, gt=0)
    waha_retry_base_seconds: float = Field(default=1.0, gt=0)
    waha_retry_max_seconds: float = Field(default=30.0, gt=0)
    waha_breaker_failures: int = Field(default=5, gt=0)  # consecutive failed sends: opens
    waha_breaker_reset_seconds: float = Field(default=30.0, gt=0)  # then one probe
    waha_profile_picture_per_minute: int = Field(default=30, gt=0)  # per channel
    # Media (ventros.media): where files live, "local" (under HOME/media) or "s3".
    media_store: Literal["local", "s3"] = "local"
    media_s3_bucket: str = "ventros-media"
    media_s3_endpoint_url: str | None = None  # an S3-compatible server; None: AWS
    media_s3_region: str = "us-east-1"
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: str | None = None
    media_presign_seconds: int = Field(default=60, gt=0)  # S3 redirects from GET /media/{id}
    # Inbound media is copied from WAHA before WAHA deletes it (WHATSAPP_FILES_LIFETIME,
    # 180 s by default): retries stop within this budget.
    media_download_budget_seconds: float = Field(default=150.0, gt=0)
    media_download_timeout_seconds: float = Field(default=30.0, gt=0)  # per attempt
    # Where WAHA can reach Ventros, for the signed links to uploads it fetches; without
    # it the sender hands WAHA the file's bytes (base64) instead.
    public_base_url: str | None = None
    # The channel watchdog (channels/workflows.py): WORKING with no event for this long
    # while outbound messages go unacknowledged is "connected but silent".
    channel_silence_seconds: float = Field(default=600.0, gt=0)
    channel_watchdog_poll_seconds: float = Field(default=30.0, gt=0)
    media_link_seconds: int = Field(default=600, gt=0)  # lifetime of those signed links
    # A channel's base_url (and a message's media_url, which WAHA fetches) must be a public
    # address, like a webhook's: a self-hosted WAHA on a private or loopback address needs
    # this on (`ventros run`'s demo turns it on for its loopback simulator).
    waha_allow_private: bool = False

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
        """Password of APP_ROLE: configured, else derived from the secret key."""
        if self.app_database_password:
            return self.app_database_password
        return self._derived_password("db-role:")

    def resolved_system_password(self) -> str | None:
        """Password of SYSTEM_ROLE: configured; else derived from the secret key (another
        derivation than the app's) unless the app's is configured, in which case this
        process has no system role."""
        if self.system_database_password:
            return self.system_database_password
        if self.app_database_password:
            return None
        return self._derived_password("db-role:system:")

    def role_passwords(self) -> RolePasswords:
        return RolePasswords(self.resolved_app_password(), self.resolved_system_password())

    def _derived_password(self, purpose: str) -> str:
        import hashlib

        return hashlib.sha256((purpose + self.resolved_secret_key()).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RolePasswords:
    """The database roles' passwords; `system` None: this process does not have it."""

    app: str
    system: str | None
