"""Process settings: one `get_settings()`, env prefix `MIGRAYT_`."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AuthMode = Literal["on", "off"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIGRAYT_", env_file=".env", extra="ignore")

    # Where the embedded PostgreSQL and Temporal keep their data.
    state_dir: Path = Path(".migrayt")

    # Unset means "start the embedded one".
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None

    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    task_queue: str = "migrayt-runs"
    # Level of the worker's log (`migrayt worker`): DEBUG shows every request line and retry.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tenant: str = "default"
    # API authentication: on | off | embedded (off only for the embedded stack on loopback); see migrayt/api/auth.py.
    auth: str = "embedded"
    admin_token: SecretStr | None = None  # bootstrap token for /api/admin (issuing tenant tokens)
    # With auth on (a shared server) ADO and Jira URLs must resolve to public addresses. Comma-separated
    # CIDRs, addresses and host names (`*.corp.example` for a domain) let on-premises ADO Server / Jira
    # Data Center on internal networks through; see migrayt/connectors/outbound.py.
    outbound_allow: str = ""

    # Run shape: a phase works in batches; independent batches run `concurrency` at a time.
    batch_size: int = 50
    concurrency: int = 4
    rerun_window_days: int = 12
    # How long Jira's search may lag behind a write; a pending item younger than this is not
    # concluded missing from a search that cannot see it yet.
    index_lag_grace_seconds: float = 15.0

    # HTTP clients
    http_timeout_seconds: float = 30.0
    http_max_retries: int = 8
    http_max_concurrency: int = 16

    # Intake and mapping (issue 5). Fernet key (urlsafe base64, 32 bytes) for stored connection secrets.
    secret_key: SecretStr | None = None
    # USD per write; a quote multiplies these by the scanned volume. Attachment price is per GiB.
    price_table: dict[str, float] = {
        "item": 0.01, "link": 0.002, "attachment_gib": 1.5, "comment": 0.001, "plugin_record": 0.002, "minimum": 49.0,
    }
    # Jira limits a lint checks against when the site does not say (Jira Cloud's documented defaults).
    jira_attachment_limit_bytes: int = 10 * 1024 * 1024
    jira_attachments_per_issue: int = 2000
    jira_comments_per_issue: int = 5000
    jira_custom_fields_cap: int = 700
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    @field_validator("outbound_allow")
    @classmethod
    def _allow_list_parses(cls, value: str) -> str:
        from migrayt.connectors.outbound import parse_allow_list

        parse_allow_list(value)  # a typo fails at start, not at the first internal call
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_mode(settings: Settings) -> AuthMode:
    """`on` for a shared server; `off` for one user on their own machine (see migrayt/api/auth.py).

    Here, not in the API, because the worker's outbound policy follows the same mode."""
    mode = settings.auth.strip().lower()
    if mode in ("on", "off"):
        return mode  # type: ignore[return-value]
    if mode == "embedded":
        return "off" if settings.database_url is None and _loopback(settings.api_host) else "on"
    raise ValueError(f"MIGRAYT_AUTH must be on, off or embedded, not {settings.auth!r}")


@lru_cache
def get_settings() -> Settings:
    return Settings()
