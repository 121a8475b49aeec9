"""Where a migration reads from and writes to. Secrets travel as references, resolved in the worker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, SecretStr

from migrayt.connectors.outbound import service_url

# An ADO or Jira base URL: http(s), no user info, query string or fragment (checked in every door and mode).
ServiceUrl = Annotated[str, AfterValidator(service_url)]


class SecretNotFound(Exception):
    pass


class SourceConnection(BaseModel):
    organization_url: ServiceUrl  # e.g. https://dev.azure.com/acme
    project: str
    team: str | None = None
    pat_ref: str  # env:NAME or file:PATH


class TargetConnection(BaseModel):
    base_url: ServiceUrl  # e.g. https://acme.atlassian.net
    project_key: str
    email: str
    token_ref: str


def resolve_secret(ref: str) -> SecretStr:
    """Turn `env:NAME` / `file:PATH` into the secret. The error names the reference, never a value."""
    scheme, _, where = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(where)
        if value is None:
            raise SecretNotFound(f"secret reference {ref!r}: environment variable {where} is not set in the worker")
        return SecretStr(value)
    if scheme == "file":
        path = Path(where)
        if not path.is_file():
            raise SecretNotFound(f"secret reference {ref!r}: no such file in the worker")
        return SecretStr(path.read_text().strip())
    if scheme == "sealed":  # a saved connection's secret, encrypted under MIGRAYT_SECRET_KEY (connections_store)
        from migrayt.connections_store import SecretBox, SecretKeyMissing
        from migrayt.settings import get_settings

        try:
            return SecretBox(get_settings().secret_key).open(where)
        except SecretKeyMissing as err:
            raise SecretNotFound(f"a saved connection's secret: {err}") from None
    raise SecretNotFound(f"secret reference {ref!r}: unknown scheme (use env:NAME or file:PATH)")
