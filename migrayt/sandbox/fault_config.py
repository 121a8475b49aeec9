"""What faults a sandbox service injects; shared by the fault middleware and the apps."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator


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
    # Requests matching one of these ("METHOD path-regex", e.g. "POST /rest/api/3/issue/bulk") wait, unanswered,
    # until the setting no longer names them: a test holds a run at a known point instead of racing it.
    hold: list[str] = Field(default_factory=list)
    # How many matching requests still pass after `hold` is set, before holding starts.
    hold_after: int = Field(0, ge=0)
    # ADO only: attachment downloads are served at most this fast (bytes per second, None: as fast as it can).
    download_bytes_per_second: float | None = Field(None, gt=0)
    # ADO only: the next `drop_downloads` attachment downloads lose their connection after this many bytes.
    drop_downloads: int = Field(0, ge=0)
    drop_download_at_bytes: int = Field(0, ge=0)
    # Jira only: the next `throttle_uploads` attachment uploads are answered 429 after this many bytes of their body.
    throttle_uploads: int = Field(0, ge=0)
    throttle_upload_at_bytes: int = Field(0, ge=0)

    @field_validator("hold")
    @classmethod
    def _hold_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            method, _, path = pattern.partition(" ")
            if not method.isalpha() or not path:
                raise ValueError(f"hold pattern {pattern!r}: expected 'METHOD path-regex'")
            try:
                re.compile(path)
            except re.error as exc:
                raise ValueError(f"hold pattern {pattern!r}: {exc}") from None
        return patterns

    def holds(self, method: str, path: str) -> str | None:
        """The hold pattern that names this request, if any."""
        for pattern in self.hold:
            want, _, regex = pattern.partition(" ")
            if want.upper() == method.upper() and re.fullmatch(regex, path):
                return pattern
        return None


class FaultCounters(BaseModel):
    """What a service actually injected, reported by `/_sandbox/faults`."""

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    dropped_after_write: int = 0
    # Requests waiting on a `hold` now, and all ever held.
    held_now: int = 0
    held: int = 0
    downloads_dropped: int = 0
    # ADO: attachment bytes sent (a resumed download adds only what was missing; a restarted one, all again).
    attachment_bytes_served: int = 0
    uploads_throttled: int = 0
    # Requests by endpoint, "METHOD /path/{}" with ids and issue keys as {}: how many calls a client needed
    # for one kind of read or write (e.g. searches per reconciliation), without logging the client.
    by_endpoint: dict[str, int] = Field(default_factory=dict)
