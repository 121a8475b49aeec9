"""Where a migration reads from and writes to. Secrets travel as references, resolved in the worker."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, SecretStr

from migrayt.connectors.outbound import service_url
from migrayt.tenant_secrets import SecretPolicy, SecretRefRefused, check_secret_ref, secret_file

# A Jira project key as Jira itself allows it. It goes into JQL and URL paths, so nothing else is accepted
# at any door (the worker re-validates a stored migration's target too).
JIRA_PROJECT_KEY = r"^[A-Z][A-Z0-9_]{1,9}$"
# An ADO or Jira base URL: http(s), no user info, query string or fragment (checked in every door and mode).
ServiceUrl = Annotated[str, AfterValidator(service_url)]


class SecretNotFound(Exception):
    pass


class SourceConnection(BaseModel):
    organization_url: ServiceUrl  # e.g. https://dev.azure.com/acme
    project: str
    team: str | None = None
    pat_ref: str  # env:NAME, file:PATH or sealed:… (see migrayt/tenant_secrets.py)


class TargetConnection(BaseModel):
    base_url: ServiceUrl  # e.g. https://acme.atlassian.net
    project_key: str = Field(pattern=JIRA_PROJECT_KEY, description="the Jira project key to move into, e.g. PHX")
    email: str
    token_ref: str
    # Xray Cloud on this Jira site: an API key's client id and a reference to its secret (resolved in the worker,
    # like the token). Without them test cases carry their steps as a table in the description instead.
    xray_client_id: str | None = None
    xray_secret_ref: str | None = None
    xray_url: ServiceUrl | None = None  # None: Xray Cloud's global endpoint


def check_ref_for_tenant(ref: str, *, tenant: str, policy: SecretPolicy, owned_sealed: Collection[str] = ()) -> None:
    """Raise SecretRefRefused unless `tenant` may name `ref`; a sealed value must be one of its saved connections'."""
    check_secret_ref(ref, tenant=tenant, policy=policy)
    if ref.startswith("sealed:") and ref.removeprefix("sealed:") not in owned_sealed:
        raise SecretRefRefused("a sealed secret that is not one of this tenant's saved connections is refused")


def resolve_secret(ref: str, *, tenant: str, policy: SecretPolicy, owned_sealed: Collection[str] = ()) -> SecretStr:
    """Turn `env:NAME` / `file:PATH` / `sealed:…` into the secret, if `tenant` may name it under `policy`.

    Checked here, at the moment of use, whatever a door checked before: a migration row may have been
    written by anything. `owned_sealed`: the sealed values the tenant's own saved connections hold.
    Raises SecretRefRefused or SecretNotFound; a message names the reference, never a value."""
    check_ref_for_tenant(ref, tenant=tenant, policy=policy, owned_sealed=owned_sealed)
    scheme, _, where = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(where)
        if value is None:
            raise SecretNotFound(f"secret reference {ref!r}: environment variable {where} is not set in the worker")
        return SecretStr(value)
    if scheme == "file":
        return SecretStr(_read_secret_file(ref, secret_file(ref, policy)))
    if scheme == "sealed":  # a saved connection's secret, encrypted under MIGRAYT_SECRET_KEY (connections_store)
        from migrayt.connections_store import SecretBox, SecretKeyMissing, secret_key_for
        from migrayt.settings import get_settings

        try:
            return SecretBox(secret_key_for(get_settings())).open(where)
        except SecretKeyMissing as err:
            raise SecretNotFound(f"a saved connection's secret: {err}") from None
    raise SecretNotFound(f"secret reference {ref!r}: unknown scheme (use env:NAME or file:PATH)")


def _read_secret_file(ref: str, real: Path) -> str:
    # The real path was checked; O_NOFOLLOW stops a symlink swapped in since from being followed.
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise SecretNotFound(f"secret reference {ref!r}: no such file in the worker's secrets folder") from None
    with os.fdopen(fd) as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SecretNotFound(f"secret reference {ref!r}: not a regular file")
        return fh.read().strip()
