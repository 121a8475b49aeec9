"""Process settings: one `get_settings()`, env prefix `MIGRAYT_`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    tenant: str = "default"

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
