"""Which secret references (env:NAME / file:PATH) a tenant may name in a migration.

The worker resolves a reference and sends the secret to the migration's ADO or Jira URL, which the
tenant chooses. On a shared server (auth on) an open reference would let one tenant send any of the
server's secrets — or another tenant's — to a host of its own. So there:
- only `env:` references, and only to variables named for the tenant:
  `MIGRAYT_T_<TENANT>_<ANYTHING>` (tenant upper-cased, characters other than A-Z/0-9 as `_`);
- never Migrayt's own settings (MIGRAYT_SECRET_KEY, MIGRAYT_ADMIN_TOKEN, …), in any mode.
With auth off (one user, their own machine) any other env: or file: reference is theirs to use.
"""

from __future__ import annotations

import re

from migrayt.settings import Settings

TENANT_ENV_PREFIX = "MIGRAYT_T_"


class SecretRefRefused(ValueError):
    pass


def tenant_env_prefix(tenant: str) -> str:
    return TENANT_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", tenant.upper()) + "_"


def _own_settings() -> set[str]:
    return {f"MIGRAYT_{name.upper()}" for name in Settings.model_fields}


def check_secret_ref(ref: str, *, tenant: str, shared: bool) -> None:
    """Raise SecretRefRefused (message names the rule, never a value) when `tenant` may not use `ref`."""
    scheme, _, where = ref.partition(":")
    if scheme == "env" and where.upper() in _own_settings():
        raise SecretRefRefused(f"{ref!r} names one of Migrayt's own settings; put the secret in a variable of its own")
    if not shared:
        return
    if scheme != "env":
        raise SecretRefRefused(f"{ref!r}: on a shared server secrets are read from environment variables only (env:NAME)")
    prefix = tenant_env_prefix(tenant)
    if not where.startswith(prefix) or len(where) == len(prefix):
        raise SecretRefRefused(f"{ref!r}: on a shared server this tenant's secrets live in variables named {prefix}…")
