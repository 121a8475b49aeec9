"""One ADO and one Jira client per process per connection, resolved from secret references here."""

from __future__ import annotations

from migrayt.connections import SourceConnection, TargetConnection, resolve_secret
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import HttpSettings
from migrayt.connectors.jira import JiraClient
from migrayt.connectors.outbound import OutboundPolicy


class ConnectorPool:
    def __init__(self, http_overrides: dict | None = None, outbound: OutboundPolicy | None = None) -> None:
        self._ado: dict[tuple[str, str, str], AdoClient] = {}
        self._jira: dict[tuple[str, str, str], JiraClient] = {}
        self._http_overrides = dict(http_overrides or {})
        if outbound is not None:  # the worker's own settings decide, not the process-wide ones
            self._http_overrides["outbound"] = outbound

    def ado(self, source: SourceConnection) -> AdoClient:
        key = (source.organization_url, source.project, source.pat_ref)
        if key not in self._ado:
            self._ado[key] = AdoClient(
                source.organization_url,
                source.project,
                resolve_secret(source.pat_ref),
                team=source.team,
                settings=HttpSettings.from_app_settings(source.organization_url, **self._http_overrides),
            )
        return self._ado[key]

    def jira(self, target: TargetConnection) -> JiraClient:
        key = (target.base_url, target.email, target.token_ref)
        if key not in self._jira:
            self._jira[key] = JiraClient(
                target.base_url,
                target.email,
                resolve_secret(target.token_ref),
                settings=HttpSettings.from_app_settings(target.base_url, **self._http_overrides),
            )
        return self._jira[key]

    def counters(self) -> dict[str, dict]:
        out = {}
        for (url, *_), client in self._ado.items():
            out[f"ado {url}"] = client.http.counters.snapshot()
        for (url, *_), client in self._jira.items():
            out[f"jira {url}"] = client.http.counters.snapshot()
        return out

    async def aclose(self) -> None:
        for client in [*self._ado.values(), *self._jira.values()]:
            await client.aclose()
        self._ado.clear()
        self._jira.clear()
