"""The search attributes runs carry, so they are filterable in the UI and with
`temporal workflow list --query "MigrationStatus='PAUSED'"`; the tenant one also tells the codec whose
payloads it shows."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from migrayt.contracts.runs import RunStatus

TENANT = SearchAttributeKey.for_keyword("MigrayTenant")
STATUS = SearchAttributeKey.for_keyword("MigrationStatus")
PHASE = SearchAttributeKey.for_keyword("MigrationPhase")

# Registered on the embedded dev server at every start (idempotent): name → Temporal's type.
SEARCH_ATTRIBUTES: dict[str, str] = {key.name: "Keyword" for key in (TENANT, STATUS, PHASE)}


def search_attributes(tenant: str, status: RunStatus, phase: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, tenant),
            SearchAttributePair(STATUS, status.value),
            SearchAttributePair(PHASE, phase),
        ]
    )


def tenant_only(tenant: str) -> TypedSearchAttributes:
    """For scans and previews: whose payloads the codec shows."""
    return TypedSearchAttributes([SearchAttributePair(TENANT, tenant)])
