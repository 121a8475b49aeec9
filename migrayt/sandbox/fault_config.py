"""What faults a sandbox service injects; shared by the fault middleware and the apps."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FaultConfig(BaseModel):
    """Switchable at start (CLI flags) and at run time (`/_sandbox/faults`)."""

    latency_ms: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    # Requests per second over which the service answers 429 (None: unlimited).
    rate_limit_rps: float | None = Field(None, gt=0)
    share_429: float = Field(0.0, ge=0, le=1)
    share_5xx: float = Field(0.0, ge=0, le=1)
    # Writes applied, then the connection dropped before the response: the worst case for exactly-once.
    share_drop_after_write: float = Field(0.0, ge=0, le=1)
    # Jira only: an issue shows up in JQL search this many seconds after it was written.
    search_index_lag_seconds: float = Field(0.0, ge=0)
    retry_after_seconds: float = Field(1.0, ge=0)
    seed: int | None = None


class FaultCounters(BaseModel):
    """What a service actually injected, reported by `/_sandbox/faults`."""

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    dropped_after_write: int = 0
