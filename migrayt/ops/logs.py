"""Log lines of the long-running processes (`migrayt api`, `migrayt worker`).

MIGRAYT_LOG_FORMAT=json writes one JSON object a line — time, level, logger, message, and the tenant, run and phase
a line is about where known (fields `tenant`, `run_id`, `phase`) — for a log collector (CloudWatch, Loki,
Elasticsearch) to index without parsing; text is for a person at a terminal, the same three as a prefix
(`[tenant=acme run=run-1a2b phase=comments]`). Unset, a shared server (auth on) logs JSON and the laptop text.
Every activity sets them from its input before it runs (migrayt/worker/activity_context.py), so each line a batch
writes says whose it is; the tenant is its opaque id, never its name.

What goes in a line is what the code logged and nothing more: no request headers, no environment, no settings
(secrets are never logged in the first place; tests/security/test_no_secret_leaks.py searches every line).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from migrayt.settings import Settings, auth_mode

# The run (its Temporal workflow id), tenant and phase a line is about, set where the code knows them.
current_run_id: ContextVar[str | None] = ContextVar("migrayt_run_id", default=None)
current_tenant: ContextVar[str | None] = ContextVar("migrayt_tenant", default=None)
current_phase: ContextVar[str | None] = ContextVar("migrayt_phase", default=None)

CONTEXT_FIELDS = (("tenant", current_tenant), ("run_id", current_run_id), ("phase", current_phase))

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(context)s%(message)s"


class RunContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's copy of its message with terminal colour codes: noise in a log collector.
        record.__dict__.pop("color_message", None)
        for field, var in CONTEXT_FIELDS:
            if getattr(record, field, None) is None:
                value = var.get()
                if value is not None:
                    setattr(record, field, value)
        return True


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, the line's tenant, run and phase (where known) in brackets before the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        known = [(f, getattr(record, f, None)) for f, _ in CONTEXT_FIELDS]
        parts = " ".join(f"{'run' if f == 'run_id' else f}={v}" for f, v in known if v is not None)
        record.context = f"[{parts}] " if parts else ""
        return super().format(record)


def log_format(settings: Settings) -> str:
    if settings.log_format:
        return settings.log_format
    try:
        return "json" if auth_mode(settings) == "on" else "text"
    except ValueError:
        return "text"  # a refused auth setup is reported by the command itself


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def configure_logging(settings: Settings) -> None:
    """The root logger's one handler, on stderr, in the format the settings ask for."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if log_format(settings) == "json" else TextFormatter())
    handler.addFilter(RunContext())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # httpx's own INFO line per request names the full URL: a customer's host, issue keys, query strings. Migrayt's
    # connectors log and count calls by endpoint template instead (observability/metrics.py, tracing.py).
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def uvicorn_log_config(settings: Settings) -> dict | None:
    """uvicorn's own loggers (startup, access lines) through the root handler; None leaves uvicorn's default."""
    if log_format(settings) != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"level": settings.log_level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": settings.log_level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": settings.log_level, "handlers": [], "propagate": True},
        },
    }
