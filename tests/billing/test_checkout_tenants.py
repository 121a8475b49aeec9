"""Another tenant's migration checkout answers 404, whatever billing's state: ids never leak through a 409 or 503."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.api.conftest import ADMIN_TOKEN, served
from tests.billing.stripe_server import stripe_stand_in
from tests.integration.harness import create_sandbox_migration, structure_only_plan

OWNER, OTHER = "checkout-owner", "checkout-other"
# Never contacted: creating a migration and asking for its checkout do not call ADO or Jira.
NOWHERE = SimpleNamespace(ado_url="http://127.0.0.1:9/ado", jira_url="http://127.0.0.1:9/jira")


@pytest.mark.parametrize("billing", ["off", "stripe"])
async def test_another_tenants_checkout_is_not_found(stack, monkeypatch, billing):
    async with stripe_stand_in() as stripe_api:
        monkeypatch.setenv("MIGRAYT_BILLING", billing)
        if billing == "stripe":
            monkeypatch.setenv("MIGRAYT_STRIPE_API_KEY", "sk_test_local")
            monkeypatch.setenv("MIGRAYT_STRIPE_API_BASE", stripe_api.url)
            monkeypatch.delenv("MIGRAYT_STRIPE_PRICE_ID", raising=False)  # misconfigured too: still 404 first
        async with served(
            stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(Fernet.generate_key().decode())
        ) as api:
            owner, other = await api.issue_token(OWNER), await api.issue_token(OTHER)
            migration_id = await create_sandbox_migration(stack, NOWHERE, plan=structure_only_plan(), tenant=OWNER)
            async with api.client(owner) as mine, api.client(other) as theirs:
                # The owner gets an answer about billing (off: 409; on without a price: 503), never a 404.
                r = await mine.post(f"/api/migrations/{migration_id}/checkout")
                assert r.status_code == (409 if billing == "off" else 503), r.text
                for method in ("POST", "GET"):
                    r = await theirs.request(method, f"/api/migrations/{migration_id}/checkout")
                    assert r.status_code == 404, (method, r.text)
                    assert "billing" not in r.text and "quote" not in r.text
                    r = await theirs.request(method, "/api/migrations/mig-does-not-exist/checkout")
                    assert r.status_code == 404, (method, r.text)
        assert stripe_api.calls("/v1/checkout/sessions") == []
