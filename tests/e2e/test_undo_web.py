"""Undo in the web app: the dry-run list, then the number typed to confirm; a wrong number removes nothing."""

from __future__ import annotations

import re

import httpx

from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT
from tests.integration.harness import create_sandbox_migration, jira_state, structure_only_plan, wait_final
from tests.security.web_forms import csrf_of, page_token


async def test_the_undo_page_lists_what_would_go_and_undoes_only_on_the_typed_count(web):
    with running_sandbox(items=12, seed=66) as sandbox:
        migration_id = await create_sandbox_migration(web, sandbox, plan=structure_only_plan(), tenant=TENANT)
        run_id = await web.service.start_run(TENANT, migration_id, actor="test", door="web")
        await wait_final(web, TENANT, run_id)
        labels = (await jira_state(sandbox))["issues"]["by_label"]["ado_id_labels"]
        assert labels > 0
        async with httpx.AsyncClient(base_url=web.url, timeout=60) as http:
            page = f"/app/migrations/{migration_id}/undo"
            token = await page_token(http, page)
            dry = await http.post(f"{page}/dry-run", data={"csrf_token": token})
            assert dry.status_code == 200, dry.text[:300]
            total = int(re.search(r'id="undo-total">(\d+)<', dry.text).group(1))
            assert re.search(rf'data-category="issues"><td>issues</td><td>{labels}</td>', dry.text)

            wrong = await http.post(page, data={"csrf_token": csrf_of(dry.text), "confirm": str(total + 1)})
            assert wrong.status_code == 409 and f"would remove {total} items" in wrong.text
            assert (await jira_state(sandbox))["issues"]["by_label"]["ado_id_labels"] == labels

            done = await http.post(page, data={"csrf_token": csrf_of(dry.text), "confirm": str(total)})
            assert done.status_code == 303, done.text[:300]
            undo_id = done.headers["location"].rsplit("/", 1)[-1]
            assert undo_id.startswith("undo-")
        assert (await wait_final(web, TENANT, undo_id)).status == RunStatus.COMPLETED
        assert (await jira_state(sandbox))["issues"]["by_label"]["ado_id_labels"] == 0
