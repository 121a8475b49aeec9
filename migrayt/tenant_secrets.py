"""Which secrets a tenant may name, checked where a migration is created and again in the worker at use.

The worker sends a secret to the ADO or Jira URL the tenant chose, so naming a secret is sending it.
The rules, in every door and in the worker:

- A tenant id is lower-case letters and digits in groups joined by single hyphens (`acme`, `acme-prod`):
  no `.`, no `_`, no `--`. Its variable part is the id upper-cased with `-` as `_` (`ACME_PROD`), which
  then never holds `__`, so the mapping is one-to-one and cannot be faked.
- A tenant's variables are `MIGRAYT_T_<TENANT>__<NAME>` (double underscore, then `[A-Z0-9_]+`). The
  tenant part ends at the first `__`, so no tenant's namespace is a prefix of another's:
  `MIGRAYT_T_ACME__` never matches `MIGRAYT_T_ACME_PROD__JIRA`.
- Migrayt's own settings (every pydantic-settings class, plus the CLI's variables) are never a secret
  a migration may name, in any mode.
- On a shared server (auth on): only `env:` references inside the tenant's namespace.
- With auth off (one user on their machine): any other `env:` variable, and `file:` references under
  the secrets folder (`MIGRAYT_SECRETS_DIR`, default `<state folder>/secrets`): no `..`, the real path
  (symlinks followed) inside the folder.
- `sealed:` references (saved connections' secrets) are not named by hand: they come from the tenant's
  own saved connections, and the worker accepts one only when a saved connection of the run's tenant
  holds exactly that sealed value (see `MigrationContexts.load`).
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TENANT_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TENANT_ID_MAX = 63
TENANT_ENV_PREFIX = "MIGRAYT_T_"
_TENANT_VARIABLE = re.compile(r"MIGRAYT_T_([A-Z0-9]+(?:_[A-Z0-9]+)*)__([A-Z0-9_]+)")

# Every pydantic-settings class (module:class); tests/security check that none is missing.
SETTINGS_CLASSES = (
    "migrayt.settings:Settings",
    "migrayt.temporal.codec:CodecSettings",
    "migrayt.api.routers.codec:CodecCorsSettings",
    "migrayt.billing.gate:BillingSettings",
)
# Variables Migrayt's CLI reads that are not settings of a server class.
CLI_VARIABLES = frozenset(
    {"MIGRAYT_API_TOKEN", "MIGRAYT_API_URL", "MIGRAYT_ADMIN_TOKEN", "MIGRAYT_ADO_PAT", "MIGRAYT_JIRA_TOKEN"}
)
# Kernel views of processes and devices: never a secret file, whatever the secrets folder says.
_NEVER_UNDER = (Path("/proc"), Path("/sys"), Path("/dev"))


class SecretRefRefused(ValueError):
    """The tenant may not name this reference; the message names the rule, never a value."""


class TenantIdInvalid(ValueError):
    pass


def check_tenant_id(tenant: str) -> str:
    if len(tenant) > TENANT_ID_MAX or not re.fullmatch(TENANT_ID_PATTERN, tenant):
        raise TenantIdInvalid(
            f"tenant id {tenant[:80]!r} is not valid: lower-case letters and digits in groups joined by single "
            f"hyphens (e.g. acme-prod), at most {TENANT_ID_MAX} characters"
        )
    return tenant


def tenant_env_part(tenant: str) -> str:
    return check_tenant_id(tenant).upper().replace("-", "_")


def tenant_env_prefix(tenant: str) -> str:
    """`MIGRAYT_T_<TENANT>__`: the tenant's variables are this followed by a name."""
    return f"{TENANT_ENV_PREFIX}{tenant_env_part(tenant)}__"


@dataclass(frozen=True)
class SecretPolicy:
    """Where references are checked: `shared` is auth on; `secrets_dir` holds the `file:` secrets (auth off)."""

    shared: bool
    secrets_dir: Path

    @classmethod
    def for_settings(cls, settings, *, shared: bool) -> SecretPolicy:
        return cls(shared=shared, secrets_dir=secrets_dir_of(settings))


def secrets_dir_of(settings) -> Path:
    folder = settings.secrets_dir or Path(settings.state_dir) / "secrets"
    return Path(folder).expanduser().resolve()


@lru_cache
def own_setting_names() -> frozenset[str]:
    """Upper-cased environment names of every Migrayt setting (and the CLI's variables)."""
    names = set(CLI_VARIABLES)
    for spec in SETTINGS_CLASSES:
        module, _, name = spec.partition(":")
        cls = getattr(importlib.import_module(module), name)
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            names.add(f"{prefix}{field_name}".upper())
            if isinstance(field.alias, str):
                names.add(field.alias.upper())
    return frozenset(names)


def check_secret_ref(ref: str, *, tenant: str, policy: SecretPolicy) -> None:
    """Raise SecretRefRefused when `tenant` may not name `ref` (a `sealed:` one is checked by the caller)."""
    scheme, _, where = ref.partition(":")
    if scheme == "sealed":
        return
    if scheme == "env":
        _check_env(ref, where, tenant, policy)
    elif scheme == "file":
        if policy.shared:
            raise SecretRefRefused(
                f"{ref!r}: on a shared server secrets are read from environment variables only (env:NAME)"
            )
        secret_file(ref, policy)
    else:
        raise SecretRefRefused(f"{ref!r}: unknown kind of secret reference (use env:NAME, or file:PATH with auth off)")


def _check_env(ref: str, name: str, tenant: str, policy: SecretPolicy) -> None:
    if name.upper() in own_setting_names():
        raise SecretRefRefused(f"{ref!r} names one of Migrayt's own settings; put the secret in a variable of its own")
    if not policy.shared and not name.upper().startswith(TENANT_ENV_PREFIX):
        return  # the user's own variable on their own machine
    found = _TENANT_VARIABLE.fullmatch(name)
    try:
        mine = tenant_env_part(tenant)
    except TenantIdInvalid:
        raise SecretRefRefused(
            f"{ref!r}: tenant {tenant[:80]!r} has an id from before tenant ids were restricted; it cannot name secrets"
        ) from None
    if found is None or found.group(1) != mine:
        raise SecretRefRefused(
            f"{ref!r}: this tenant's secrets live in variables named {TENANT_ENV_PREFIX}{mine}__<NAME>"
        )


def secret_file(ref: str, policy: SecretPolicy) -> Path:
    """The real path of a `file:` reference, refused unless it lies inside the secrets folder."""
    _, _, where = ref.partition(":")
    given = Path(where)
    if not where or ".." in given.parts:
        raise SecretRefRefused(f"{ref!r}: a secret file path may not contain '..'")
    folder = Path(os.path.realpath(policy.secrets_dir))
    real = Path(os.path.realpath(given if given.is_absolute() else folder / given))
    if any(real == top or real.is_relative_to(top) for top in _NEVER_UNDER) or any(
        folder == top or folder.is_relative_to(top) for top in _NEVER_UNDER
    ):
        raise SecretRefRefused(f"{ref!r}: /proc, /sys and /dev are never secret files")
    if real == folder or not real.is_relative_to(folder):
        raise SecretRefRefused(
            f"{ref!r}: secret files must lie inside the secrets folder {folder} "
            "(MIGRAYT_SECRETS_DIR), symlinks included"
        )
    return real
