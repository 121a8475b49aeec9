"""Temporal set-up a real cluster needs before the first run: the custom search attributes.

The embedded dev server registers them with `--search-attribute` at every start; a real cluster or
Temporal Cloud needs them added to the namespace once, which `migrayt setup temporal` does here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from migrayt.settings import Settings
from migrayt.temporal.search_attributes import PHASE, STATUS, TENANT

# The keys the workflows write: the one list, so a new attribute cannot be forgotten here.
SEARCH_ATTRIBUTE_KEYS: tuple[SearchAttributeKey, ...] = (TENANT, STATUS, PHASE)
RPC_TIMEOUT = timedelta(seconds=10)


class SearchAttributeConflict(RuntimeError):
    """A name we need is registered on the namespace with another type: runs could not be listed by it."""


@dataclass
class SearchAttributeReport:
    namespace: str
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


async def connect_plain(settings: Settings, address: str | None = None) -> Client:
    """A client for operator and visibility calls: same address, namespace, TLS and API key as the worker,
    no data converter (these calls carry no payloads, so no codec key is needed or generated)."""
    target = address or settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls or bool(api_key),
        api_key=api_key,
    )


def _type_name(value: IndexedValueType.ValueType) -> str:
    return IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").title()


async def ensure_search_attributes(
    client: Client,
    namespace: str,
    keys: tuple[SearchAttributeKey, ...] = SEARCH_ATTRIBUTE_KEYS,
) -> SearchAttributeReport:
    """Add the missing attributes; those already there with the right type are left alone (idempotent).

    Raises SearchAttributeConflict, before adding anything, when a name exists with another type."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace), timeout=RPC_TIMEOUT
    )
    report = SearchAttributeReport(namespace)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in keys:
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        existing = listed.custom_attributes.get(key.name)
        if existing is None:
            existing = listed.system_attributes.get(key.name)
        if existing is None:
            missing[key.name] = wanted
        elif existing != wanted:
            raise SearchAttributeConflict(
                f"search attribute {key.name} exists on namespace {namespace!r} as {_type_name(existing)}, "
                f"Migrayt needs {_type_name(wanted)}; rename or remove it (it cannot be changed in place)"
            )
        else:
            report.present.append(key.name)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing), timeout=RPC_TIMEOUT
        )
        report.added = list(missing)
    return report
