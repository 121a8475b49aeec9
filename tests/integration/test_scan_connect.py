"""Connect: a connection is tested by a real call before it is kept; its secret is stored encrypted."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from migrayt.connections_store import (
    AdoConnectionInput,
    ConnectionRejected,
    ConnectionStore,
    JiraCloudConnectionInput,
    JiraDataCenterConnectionInput,
    SecretBox,
)
from migrayt.core.errors import NotFound, WrongConnectionKind
from migrayt.core.intake import IntakeService
from migrayt.sandbox.server import DEFAULT_JIRA_EMAIL
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import AuditEvent, StoredConnection
from tests.integration import harness

TENANT = "connect-corp"
PAT = "sandbox-pat"


async def test_connections_are_tested_on_save_and_kept_encrypted(stack):
    settings = harness.test_settings(secret_key=SecretStr(Fernet.generate_key().decode()))
    intake = IntakeService(settings, stack.service.sessions, stack.client)
    with running_sandbox(items=5, seed=3) as sandbox:
        with pytest.raises(ConnectionRejected, match="refused the PAT"):
            await intake.save_connection(
                TENANT,
                AdoConnectionInput(
                    name="ado", organization_url=sandbox.ado_url, project="Phoenix", pat=SecretStr("wrong-pat-123456")
                ),
                "ana",
                "api",
            )
        with pytest.raises(ConnectionRejected, match="no Azure DevOps project 'Nope'"):
            await intake.save_connection(
                TENANT,
                AdoConnectionInput(name="ado", organization_url=sandbox.ado_url, project="Nope", pat=SecretStr(PAT)),
                "ana",
                "api",
            )
        with pytest.raises(ConnectionRejected, match="cannot reach Azure DevOps at http://127.0.0.1:9"):
            await intake.save_connection(
                TENANT,
                AdoConnectionInput(
                    name="ado", organization_url="http://127.0.0.1:9/acme", project="Phoenix", pat=SecretStr(PAT)
                ),
                "ana",
                "api",
            )
        with pytest.raises(ConnectionRejected, match="refused the e-mail and API token"):
            await intake.save_connection(
                TENANT,
                JiraCloudConnectionInput(
                    name="jira",
                    site_url=sandbox.jira_url,
                    email=DEFAULT_JIRA_EMAIL,
                    api_token=SecretStr("not-the-token-0000"),
                ),
                "ana",
                "api",
            )

        ado = await intake.save_connection(
            TENANT,
            AdoConnectionInput(name="ado", organization_url=sandbox.ado_url, project="Phoenix", pat=SecretStr(PAT)),
            "ana",
            "api",
        )
        jira = await intake.save_connection(
            TENANT,
            JiraCloudConnectionInput(
                name="jira", site_url=sandbox.jira_url, email=DEFAULT_JIRA_EMAIL, api_token=SecretStr("sandbox-token")
            ),
            "ana",
            "api",
        )

    # The test says the credentials work; the target's user fields are not copied (issue 12).
    assert ado.kind == "ado" and ado.detail["work_item_types"] > 0 and jira.detail == {"deployment": "cloud"}
    shown = await intake.list_connections(TENANT)
    assert [c.id for c in shown] == [ado.id, jira.id]
    for view in shown:
        assert PAT not in view.model_dump_json() and "sandbox-token" not in view.model_dump_json()
    assert [c.secret_hint for c in shown] == ["saved", "saved"]  # no part of a secret, however long
    async with stack.service.sessions() as session:
        rows = {
            r.id: r for r in await session.scalars(select(StoredConnection).where(StoredConnection.tenant_id == TENANT))
        }
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == TENANT)))
    assert len(rows) == 2  # the refused ones were never kept
    assert PAT not in rows[ado.id].secret_encrypted and "sandbox-token" not in rows[jira.id].secret_encrypted
    row, secret = await intake.connections.secret(TENANT, jira.id)
    assert secret.get_secret_value() == "sandbox-token"
    assert [e.action for e in events] == ["connection_saved", "connection_saved"]
    assert all("token" not in str(e.detail) and PAT not in str(e.detail) for e in events)


async def test_a_tenant_cannot_read_another_tenants_connection_secret(stack):
    key = SecretStr(Fernet.generate_key().decode())
    store = ConnectionStore(harness.test_settings(secret_key=key), stack.service.sessions)
    row = StoredConnection(
        id="conn-owned-by-other",
        tenant_id="other-corp",
        kind="jira_cloud",
        name="theirs",
        url="https://other.example",
        username="them@other.example",
        secret_encrypted=SecretBox(key).seal(SecretStr("their-api-token-9999")),
        secret_hint="…9999",
        detail={},
        created_by="them",
    )
    async with stack.service.sessions() as session:
        session.add(row)
        await session.commit()
    # Answered as a connection that does not exist, so the caller learns nothing of the other tenant.
    with pytest.raises(NotFound, match="connection conn-owned-by-other not found"):
        await store.secret(TENANT, row.id)
    with pytest.raises(NotFound, match="connection conn-nowhere not found"):
        await store.secret(TENANT, "conn-nowhere")
    _, secret = await store.secret("other-corp", row.id)
    assert secret.get_secret_value() == "their-api-token-9999"


async def test_a_data_center_pat_is_sent_as_a_bearer_token_and_runs_go_to_cloud_only(stack):
    settings = harness.test_settings(secret_key=SecretStr(Fernet.generate_key().decode()))
    intake = IntakeService(settings, stack.service.sessions, stack.client)
    dc_pat = "dc-personal-access-token-4242"
    with running_sandbox(items=5, seed=3, jira_options={"data_center_pat": dc_pat}) as sandbox:
        with pytest.raises(ConnectionRejected, match="refused the personal access token"):
            await intake.save_connection(
                TENANT,
                JiraDataCenterConnectionInput(name="dc", base_url=sandbox.jira_url, pat=SecretStr("not-my-pat-000000")),
                "ana",
                "api",
            )
        # Data Center refuses a PAT as a Basic password; the sandbox accepts this one only as a bearer token.
        dc = await intake.save_connection(
            TENANT,
            JiraDataCenterConnectionInput(name="dc", base_url=sandbox.jira_url, pat=SecretStr(dc_pat)),
            "ana",
            "api",
        )
        ado = await intake.save_connection(
            TENANT,
            AdoConnectionInput(name="ado", organization_url=sandbox.ado_url, project="Phoenix", pat=SecretStr(PAT)),
            "ana",
            "api",
        )
    assert dc.kind == "jira_dc" and dc.detail == {"deployment": "data_center"} and dc_pat not in dc.model_dump_json()
    with pytest.raises(WrongConnectionKind, match="is Jira Data Center.*REST API v3"):
        await intake.create_migration_from_connections(TENANT, "to dc", ado.id, dc.id, "PHX", "ana", "api")
