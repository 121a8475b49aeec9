"""In a real browser: another site's page cannot drive the open local server, and the CSP blocks nothing of ours."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from migrayt.sandbox.server import DEFAULT_ADO_PAT
from migrayt.sandbox.testing import running_sandbox
from tests.e2e.conftest import TENANT

ATTACKER = "http://attacker.test"


@pytest.fixture
def sandbox():
    with running_sandbox(items=4, seed=71) as server:
        yield server


async def test_another_sites_page_cannot_save_a_connection(web, page: Page, sandbox):
    """The attack of issue 12: a page elsewhere auto-submits a form to /app/connections/ado (no cookie is sent),
    with details that would pass the connection test."""
    target = f"{web.url}/app/connections/ado"
    evil = f"""<html><body><form id="f" method="post" action="{target}">
      <input name="name" value="planted-by-attacker"><input name="organization_url" value="{sandbox.ado_url}">
      <input name="project" value="Phoenix"><input name="pat" value="{DEFAULT_ADO_PAT}"></form>
      <script>document.getElementById("f").submit()</script></body></html>"""

    async def attacker_site(route):
        await route.fulfill(status=200, content_type="text/html", body=evil)

    await page.route(f"{ATTACKER}/**", attacker_site)
    async with page.expect_response(target) as answer:
        await page.goto(f"{ATTACKER}/innocent")
    assert (await answer.value).status == 403
    assert "planted-by-attacker" not in [c.name for c in await web.intake.list_connections(TENANT)]


async def test_our_pages_run_under_the_csp_without_a_violation(web, page: Page, browser_context):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(f"{web.url}/app/connect")
    await expect(page.get_by_role("heading", name="1 · Connect")).to_be_visible()
    # A form of ours, submitted by the browser, goes through (the token travels in it): the refusal names the PAT.
    card = page.locator("#ado-card")
    await card.get_by_label("Organization URL").fill("http://127.0.0.1:9/ado")
    await card.get_by_label("Project").fill("Phoenix")
    await card.get_by_label("Personal access token").fill("not-a-real-pat")
    await card.get_by_role("button", name="Test and save").click()
    await expect(page.locator("#ado-card .alert.error")).to_be_visible()
    await expect(page.locator("#ado-card .alert.error")).not_to_contain_text(re.compile("form refused", re.I))
    assert violations == []
    [session] = [c for c in await browser_context.cookies(f"{web.url}/app/") if c["name"] == "migrayt_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
