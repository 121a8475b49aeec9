"""Process settings: one `get_settings()`, env prefix `MIGRAYT_`."""

from __future__ import annotations

import ipaddress
import math
import string
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ADMIN_TOKEN_MIN_BITS = 256
_BASE64URL = set(string.ascii_letters + string.digits + "-_")


def token_entropy_bits(token: str) -> float:
    """An upper estimate of a token's entropy: its length times the bits of the alphabet it draws from.

    The alphabet is guessed from the characters used (hex, base64url, or the classes present); a token
    using fewer than 10 distinct characters counts as nothing, as `aaaa…` or `abab…` would otherwise pass."""
    if len(set(token)) < 10:
        return 0.0
    chars = set(token)
    if chars <= set(string.hexdigits.lower()) or chars <= set(string.hexdigits.upper() + string.digits):
        alphabet = 16
    elif chars <= _BASE64URL and chars & set(string.ascii_lowercase) and chars & set(string.ascii_uppercase):
        alphabet = 64
    else:
        alphabet = (
            sum(
                size
                for group, size in (
                    (string.ascii_lowercase, 26),
                    (string.ascii_uppercase, 26),
                    (string.digits, 10),
                    (string.punctuation, 32),
                )
                if chars & set(group)
            )
            or 1
        )
    return len(token) * math.log2(alphabet) if alphabet > 1 else 0.0


def check_admin_token(value: SecretStr | None) -> None:
    """ValueError (naming the rule, never the token) for an admin token of under 32 random bytes."""
    if value is None:
        return
    bits = token_entropy_bits(value.get_secret_value())
    if bits < ADMIN_TOKEN_MIN_BITS:
        raise ValueError(
            f"MIGRAYT_ADMIN_TOKEN is too weak (about {bits:.0f} bits of entropy; at least {ADMIN_TOKEN_MIN_BITS}, "
            "i.e. 32 random bytes, are needed): generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


AuthMode = Literal["on", "off"]


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting (a weak admin token) is never echoed into a log.
    model_config = SettingsConfigDict(env_prefix="MIGRAYT_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # Where the embedded PostgreSQL and Temporal keep their data.
    state_dir: Path = Path(".migrayt")
    # With auth off, `file:` secret references must lie in this folder (unset: <state_dir>/secrets);
    # on a shared server (auth on) `file:` references are refused whatever this says.
    secrets_dir: Path | None = None

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
    # Log lines of `migrayt api` and `migrayt worker`: "json" (one object a line, for a log collector) or "text".
    # Unset: json on a shared server (auth on), text on the laptop.
    log_format: Literal["json", "text"] | None = None
    # How long a stopping worker (SIGTERM) gives its running batches to reach an item boundary and be handed back
    # to another worker; keep it under the platform's kill timeout (Kubernetes' terminationGracePeriodSeconds).
    worker_grace_seconds: float = Field(30.0, ge=0)
    # A worker whose event loop does not tick for this long logs where it was blocked (migrayt/worker/loop_watch.py):
    # a batch computing without awaiting holds every heartbeat and workflow task. 0: no watch.
    worker_loop_stall_seconds: float = Field(2.0, ge=0)
    # A Prometheus /metrics endpoint on this port (Temporal SDK metrics and Migrayt's own), on the worker and on
    # `migrayt api` alike (a port of its own, never the API's); unset: none.
    metrics_port: int | None = None
    # The address the metrics endpoint listens on (0.0.0.0 in a container, so the scraper reaches it).
    metrics_host: str = "127.0.0.1"
    tenant: str = "default"
    # API authentication: on | off | embedded (off only for the embedded stack on loopback); see migrayt/api/auth.py.
    auth: str = "embedded"
    admin_token: SecretStr | None = None  # bootstrap token for /api/admin (issuing tenant tokens)
    # Host names the API answers to (the Host header), comma-separated; empty: localhost, 127.0.0.1, [::1]
    # and api_host. A request naming another host is a 400 (DNS rebinding). "*" turns the check off (auth on only).
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # How long a web app sign-in lasts (a server-side session; signing out ends it at once).
    web_session_hours: float = 12.0
    # With auth on (a shared server) ADO and Jira URLs must resolve to public addresses. Comma-separated
    # CIDRs, addresses and host names (`*.corp.example` for a domain) let on-premises ADO Server / Jira
    # Data Center on internal networks through; see migrayt/connectors/outbound.py.
    outbound_allow: str = ""

    # Run shape: a phase works in batches; independent batches run `concurrency` at a time.
    batch_size: int = 50
    concurrency: int = 4
    rerun_window_days: int = 12
    # Items an undo batch removes: issues go in one bulk delete each (Jira takes up to 1,000 a request).
    undo_batch_size: int = Field(500, ge=1, le=1000)
    # How long Jira's search may lag behind a write; a pending item younger than this is not
    # concluded missing from a search that cannot see it yet.
    index_lag_grace_seconds: float = 15.0
    # MIGRAYT_PARENTS_AT_CREATE: create items in tiers by ADO depth (parents first) and set the Jira parent in the
    # create payload where the parent exists and Jira nests the pair; the hierarchy phase writes only what remains.
    # Off: every issue in one tier, sub-tasks after, and the hierarchy phase sets each parent (one edit each).
    parents_at_create: bool = True
    # MIGRAYT_VALIDATE_AFTER_RUN: start a validation (read-only) whenever a run ends COMPLETED or INCOMPLETE.
    validate_after_run: bool = False

    # HTTP clients
    http_timeout_seconds: float = 30.0
    http_max_retries: int = 8
    http_max_concurrency: int = 16
    # MIGRAYT_JIRA_SITE_RPS: requests per second to one Jira site for every worker process together, kept in
    # PostgreSQL (migrayt/connectors/site_budget.py); a site's own rate in its `site_budget` row wins. Unset: no
    # site budget, each client only slows down on 429s, and N workers may send N times what the site allows.
    jira_site_rps: float | None = Field(None, gt=0)
    # MIGRAYT_JIRA_SITE_BUDGET_SHARED=false: each worker process keeps the site's rate to itself instead (to compare).
    jira_site_budget_shared: bool = True

    # Intake and mapping (issue 5). Fernet key (urlsafe base64, 32 bytes) for stored connection secrets.
    secret_key: SecretStr | None = None
    # USD per unit (migrayt/intake/quote.py): "item", a work item migrated with everything carried with it, and each
    # plugin's units ("worklog": one 7pace work log; "test": one test case carried as an Xray Test with its steps;
    # "test_membership": one test's place in an Xray Test Set or Test Plan). The quote, the checkout and the meter
    # price by this one table; a unit missing from it is quoted and billed at 0.
    price_table: dict[str, float] = {"item": 0.02, "worklog": 0.002, "test": 0.01, "test_membership": 0.001}
    # Jira limits a lint checks against when the site does not say (Jira Cloud's documented defaults). A site's own
    # upload limit (/rest/api/3/attachment/meta) always decides; 1 GB is Cloud's default per file (10 MB is Data
    # Center's).
    jira_attachment_limit_bytes: int = 1024**3
    # The Jira plan's attachment storage (Free 2 GB, Standard 250 GB, Premium unlimited): a scan whose files
    # add up to more says so. A site that says it is on Free (/rest/api/3/instance/license) is held to 2 GB whatever
    # this says; Standard and Premium both answer "PAID" there, so for those this is the only source. Unset: no limit
    # known.
    jira_attachment_storage_bytes: int | None = None
    jira_attachments_per_issue: int = 2000
    jira_comments_per_issue: int = 5000
    jira_custom_fields_cap: int = 700
    # Files at least this large are spooled to a temporary file while they stream from ADO to Jira, so a
    # throttled or failed upload is re-sent from local disk instead of downloaded again. Unset (the default): no
    # spool, a re-send downloads the file again; measured on a shared machine, spooling every large file cost
    # 40-60% of the phase's throughput (bench/results/attachments.md), more than the rare re-download it saves.
    # Set it (e.g. 8 MB) where ADO is slow or metered and local disk is fast.
    attachment_spool_min_bytes: int | None = None
    # Where spool files go (unset: the system's temporary folder). Each is unlinked as soon as it is created, so
    # it never outlives its upload, even when the worker is killed; a run needs up to the size of the files in
    # flight at once (MIGRAYT_CONCURRENCY batches x 16 files).
    attachment_spool_dir: Path | None = None
    # An item's small files and its revision-history file go to its issue in one upload request (Jira takes many
    # `file` parts), at most this many files and bytes a request; a larger file goes alone, streamed. 1 file: one
    # request per file, as before. Every file is still recorded exactly once on its own.
    attachment_files_per_request: int = Field(20, ge=1)
    attachment_bytes_per_request: int = Field(10 * 1024 * 1024, ge=1)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    # Bounded input (issue 12). Request bodies are capped while they are read, before authentication.
    max_body_bytes: int = 1024 * 1024
    max_webhook_bytes: int = 1024 * 1024  # Stripe's webhook: its own cap, read as a stream against it
    # Live progress streams: open streams per tenant, and how long one lasts before it ends with `timeout`.
    sse_max_streams_per_tenant: int = 10
    sse_max_lifetime_seconds: float = 3600.0
    # Schedules: at most this many per tenant; a delta sync fires at most once per this many seconds.
    max_schedules_per_tenant: int = 50
    schedule_min_interval_seconds: int = 60
    # Mapping plans: entries per table (types, states of one type, users…), entries in all, JSON size;
    # versions kept per migration (older ones are deleted, never the approved one).
    plan_max_entries_per_table: int = 5000
    plan_max_entries: int = 10000
    plan_max_bytes: int = 512 * 1024
    plan_versions_kept: int = 50
    # Savepoints (issue 14 part 5): signed files of a run's item records, written at each phase end, on pause
    # and every this many minutes while batches run (0: only at phase ends and on pause), into this folder
    # (unset: <state_dir>/savepoints), keeping the newest this many per run.
    savepoint_dir: Path | None = None
    savepoint_every_minutes: float = Field(10.0, ge=0)
    savepoints_kept: int = Field(5, ge=1)

    @field_validator("tenant")
    @classmethod
    def _tenant_id(cls, value: str) -> str:
        from migrayt.tenant_secrets import check_tenant_id

        return check_tenant_id(value)

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        check_admin_token(value)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

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


def loopback(host: str) -> bool:
    host = host.strip("[]")
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
    if mode == "on":
        return "on"
    if mode == "off":
        if not loopback(settings.api_host):
            raise ValueError(
                f"MIGRAYT_AUTH=off is refused with the API bound to {settings.api_host!r}: without authentication "
                "every request is admin, so the API may only listen on a loopback address (MIGRAYT_API_HOST="
                "127.0.0.1, ::1 or localhost). To serve other machines, set MIGRAYT_AUTH=on and MIGRAYT_ADMIN_TOKEN."
            )
        return "off"
    if mode == "embedded":
        return "off" if settings.database_url is None and loopback(settings.api_host) else "on"
    raise ValueError(f"MIGRAYT_AUTH must be on, off or embedded, not {settings.auth!r}")


@lru_cache
def get_settings() -> Settings:
    return Settings()
