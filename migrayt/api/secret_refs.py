"""Which secret references a tenant may name when it creates a migration: the rules of migrayt/tenant_secrets.py,
applied at the door (the worker applies them again at use)."""

from __future__ import annotations

from migrayt.settings import Settings
from migrayt.tenant_secrets import SecretPolicy, SecretRefRefused, check_secret_ref, tenant_env_prefix

__all__ = ["SecretRefRefused", "check_named_ref", "tenant_env_prefix"]


def check_named_ref(ref: str, *, tenant: str, settings: Settings, shared: bool) -> None:
    """A reference named by hand: the tenant's rules, and never `sealed:` (those come from saved connections)."""
    if ref.startswith("sealed:"):
        raise SecretRefRefused(
            "sealed secrets come only from saved connections: use source_connection_id / target_connection_id"
        )
    check_secret_ref(ref, tenant=tenant, policy=SecretPolicy.for_settings(settings, shared=shared))
