"""One ADO, one Jira and one Xray client per process per tenant and connection, resolved from secret references here.

Every use checks the reference against the run's tenant again (a cached client included): a client one
tenant may use is never handed to another that names the same reference."""

from __future__ import annotations

from collections.abc import Collection

from migrayt.connections import SourceConnection, TargetConnection, check_ref_for_tenant, resolve_secret
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import HttpSettings
from migrayt.connectors.jira import JiraClient
from migrayt.connectors.outbound import OutboundPolicy
from migrayt.connectors.site_budget import SiteBudgets
from migrayt.connectors.xray import DEFAULT_XRAY_URL, XrayClient
from migrayt.tenant_secrets import SecretPolicy


class ConnectorPool:
    def __init__(
        self,
        policy: SecretPolicy,
        http_overrides: dict | None = None,
        outbound: OutboundPolicy | None = None,
        site_budgets: SiteBudgets | None = None,
    ) -> None:
        self._policy = policy
        # Every tenant's client of one Jira site takes from the same budget (None: no site budget).
        self.site_budgets = site_budgets
        self._ado: dict[tuple[str, ...], AdoClient] = {}
        self._jira: dict[tuple[str, ...], JiraClient] = {}
        self._xray: dict[tuple[str, ...], XrayClient] = {}
        self._http_overrides = dict(http_overrides or {})
        if outbound is not None:  # the worker's own settings decide, not the process-wide ones
            self._http_overrides["outbound"] = outbound

    def ado(self, source: SourceConnection, tenant: str, owned_sealed: Collection[str] = ()) -> AdoClient:
        """Raises SecretRefRefused / SecretNotFound when the tenant may not use, or the worker lacks, the PAT."""
        self._check(source.pat_ref, tenant, owned_sealed)
        key = (source.organization_url, source.project, source.pat_ref, tenant)
        if key not in self._ado:
            self._ado[key] = AdoClient(
                source.organization_url,
                source.project,
                resolve_secret(source.pat_ref, tenant=tenant, policy=self._policy, owned_sealed=owned_sealed),
                team=source.team,
                settings=HttpSettings.from_app_settings(source.organization_url, **self._http_overrides),
            )
        return self._ado[key]

    def jira(self, target: TargetConnection, tenant: str, owned_sealed: Collection[str] = ()) -> JiraClient:
        self._check(target.token_ref, tenant, owned_sealed)
        key = (target.base_url, target.email, target.token_ref, tenant)
        if key not in self._jira:
            self._jira[key] = JiraClient(
                target.base_url,
                target.email,
                resolve_secret(target.token_ref, tenant=tenant, policy=self._policy, owned_sealed=owned_sealed),
                settings=HttpSettings.from_app_settings(target.base_url, **self._http_overrides),
                site_budget=self.site_budgets.for_site(target.base_url) if self.site_budgets else None,
            )
        return self._jira[key]

    def xray(self, target: TargetConnection, tenant: str, owned_sealed: Collection[str] = ()) -> XrayClient | None:
        """Xray Cloud's client for this target, or None when the target names no Xray API key."""
        if not target.xray_client_id or not target.xray_secret_ref:
            return None
        self._check(target.xray_secret_ref, tenant, owned_sealed)
        url = target.xray_url or DEFAULT_XRAY_URL
        key = (url, target.xray_client_id, target.xray_secret_ref, tenant)
        if key not in self._xray:
            secret = resolve_secret(
                target.xray_secret_ref, tenant=tenant, policy=self._policy, owned_sealed=owned_sealed
            )
            self._xray[key] = XrayClient(
                target.xray_client_id, secret, settings=HttpSettings.from_app_settings(url, **self._http_overrides)
            )
        return self._xray[key]

    def _check(self, ref: str, tenant: str, owned_sealed: Collection[str]) -> None:
        check_ref_for_tenant(ref, tenant=tenant, policy=self._policy, owned_sealed=owned_sealed)

    def counters(self) -> dict[str, dict]:
        out = {}
        for (url, *_), client in self._ado.items():
            out[f"ado {url}"] = client.http.counters.snapshot()
        for (url, *_), jira in self._jira.items():
            out[f"jira {url}"] = jira.http.counters.snapshot()
        return out

    async def aclose(self) -> None:
        clients: list[AdoClient | JiraClient | XrayClient] = [
            *self._ado.values(),
            *self._jira.values(),
            *self._xray.values(),
        ]
        for client in clients:
            await client.aclose()
        self._ado.clear()
        self._jira.clear()
        self._xray.clear()
