"""What faults a sandbox service injects; shared by the fault middleware and the apps."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

LimitProfile = Literal["jira-cloud-like"]

# The scoped budgets a named profile switches on. "jira-cloud-like" is what the benchmarks run against; the values are
# our reading of Atlassian's "Rate limiting" page and Microsoft's "Rate and usage limits" where those give numbers, and
# a stated assumption where they do not (Atlassian publishes the scopes and headers, not per-endpoint figures):
# - burst, 10 requests/s per endpoint and method, a bucket of 2 s: with the ~10 endpoints a migration uses, a site sees
#   at most about the 100 requests/s the benchmarks used as one global bucket before, while one endpoint alone
#   (comments) is capped; that is the case per-scope pacing in the client exists for;
# - per-issue writes, 10 per issue in any 5 s: a long comment thread on one issue meets it, other issues never do;
# - quota, 250,000 requests an hour per site: API-token traffic is governed by the burst limits, not the points-based
#   quotas, so the quota is a ceiling a 10,000-item run (~70,000 calls) does not reach; it is on so its 429 and headers
#   are exercised;
# - ADO, 200 TSTUs per identity in a sliding 5-minute window (Microsoft's published figure); what one request costs is
#   not published, we assume 0.02 TSTU a read and 0.1 a write (about 10,000 reads per window), so ADO delays a heavy
#   scan but a migration's reads do not hit its 429.
LIMIT_PROFILES: dict[str, dict[str, Any]] = {
    "jira-cloud-like": {
        "jira_burst_rps": 10.0,
        "jira_burst_seconds": 2.0,
        "jira_issue_writes": 10,
        "jira_issue_write_window_seconds": 5.0,
        "jira_quota_per_hour": 250_000,
        "ado_tstu_limit": 200.0,
        "ado_tstu_window_seconds": 300.0,
        "ado_tstu_per_read": 0.02,
        "ado_tstu_per_write": 0.1,
    },
}
# The scoped-budget settings a profile owns: choosing a profile (or none) resets all of them first.
SCOPED_LIMIT_FIELDS = (
    "jira_burst_rps",
    "jira_burst_seconds",
    "jira_burst_rps_by_endpoint",
    "jira_issue_writes",
    "jira_issue_write_window_seconds",
    "jira_quota_per_hour",
    "ado_tstu_limit",
    "ado_tstu_window_seconds",
    "ado_tstu_per_read",
    "ado_tstu_per_write",
)


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
    # Jira only: the next `drop_upload_answers` attachment uploads of at least `drop_upload_answer_from_bytes` (their
    # Content-Length) are stored, then their connection drops before the answer: an upload whose outcome is unknown.
    drop_upload_answers: int = Field(0, ge=0)
    drop_upload_answer_from_bytes: int = Field(0, ge=0)

    # --- scoped budgets, as Jira Cloud and Azure DevOps count them (all off unless set or chosen by a profile) ---
    # A named set of the values below (LIMIT_PROFILES); values given beside the name win over the profile's.
    limit_profile: LimitProfile | None = None
    # Jira burst: requests per second for each endpoint and HTTP method on its own, a bucket of `jira_burst_seconds`
    # of them; 429 with RateLimit-Reason jira-burst-based.
    jira_burst_rps: float | None = Field(None, gt=0)
    jira_burst_seconds: float = Field(1.0, gt=0)
    # Per-endpoint rates that replace `jira_burst_rps` (on even when it is off): {"POST /rest/api/3/issue/{id}/comment":
    # 2}. Paths are templates: an issue key or a number in a segment is written {id}.
    jira_burst_rps_by_endpoint: dict[str, float] = Field(default_factory=dict)
    # Jira per-issue writes: at most this many writes to one issue in any `jira_issue_write_window_seconds`;
    # 429 with RateLimit-Reason jira-per-issue-on-write.
    jira_issue_writes: int | None = Field(None, ge=1)
    jira_issue_write_window_seconds: float = Field(2.0, gt=0)
    # Jira quota: requests an hour to the whole site; 429 with RateLimit-Reason jira-quota-tenant-based.
    jira_quota_per_hour: int | None = Field(None, ge=1)
    # ADO: TSTUs one identity may use in a sliding window; delayed near it, 429 beyond it.
    ado_tstu_limit: float | None = Field(None, gt=0)
    ado_tstu_window_seconds: float = Field(300.0, gt=0)
    ado_tstu_per_read: float = Field(0.02, ge=0)
    ado_tstu_per_write: float = Field(0.1, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _profile_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("limit_profile") in LIMIT_PROFILES:
            return {**LIMIT_PROFILES[data["limit_profile"]], **data}
        return data

    @field_validator("jira_burst_rps_by_endpoint")
    @classmethod
    def _endpoint_rates(cls, rates: dict[str, float]) -> dict[str, float]:
        for endpoint, rate in rates.items():
            method, _, path = endpoint.partition(" ")
            if not method.isalpha() or not path.startswith("/"):
                raise ValueError(f"endpoint {endpoint!r}: expected 'METHOD /path/template'")
            if rate <= 0:
                raise ValueError(f"endpoint {endpoint!r}: the rate must be above 0")
        return {f"{k.partition(' ')[0].upper()} {k.partition(' ')[2]}": v for k, v in rates.items()}

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


class EndpointCounters(BaseModel):
    requests: int = 0
    throttled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


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
    upload_answers_dropped: int = 0
    # ADO: requests for each attachment's bytes by its guid (a resumed range counts as one more).
    attachment_downloads: dict[str, int] = Field(default_factory=dict)
    # 429s of the scoped budgets by RateLimit-Reason (ADO's TSTU budget counts as "ado-tstu").
    throttled_by_reason: dict[str, int] = Field(default_factory=dict)
    # Per "METHOD /path/template": requests, 429s among them, and the most that were in flight at once.
    by_endpoint: dict[str, EndpointCounters] = Field(default_factory=dict)
