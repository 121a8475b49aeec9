"""A muted run writes `@` mentions as plain "@Name" (Jira e-mails whoever a mention names, whatever the project's
notification scheme); with notifications on they stay mentions of the person's Jira account."""

from __future__ import annotations

from migrayt.connectors.adf import adf_to_text
from migrayt.mapping.plan import default_plan
from migrayt.translation.issue_fields import Lookups, build_issue_fields
from tests.unit.test_issue_fields import CATALOG

MENTIONING = {
    "System.WorkItemType": "Bug",
    "System.Title": "Crash on save",
    "System.State": "New",
    "System.Description": '<p>Ask <a href="#" data-vss-mention="version:2.0,ado-ada">@Ada Lovelace</a> first.</p>',
}


def nodes(doc: dict) -> list[dict]:
    out = [doc]
    for child in doc.get("content") or []:
        out += nodes(child)
    return out


def test_a_muted_run_names_the_person_in_plain_text_and_mentions_no_one():
    lookups = Lookups(users_by_ado_id={"ado-ada": "acct-ada"})
    description = build_issue_fields(1, MENTIONING, default_plan(), CATALOG, lookups).fields["description"]
    assert not [n for n in nodes(description) if n.get("type") == "mention"]
    assert "Ask @Ada Lovelace first." in adf_to_text(description)


def test_with_notifications_on_the_mention_stays_a_mention_of_the_account():
    plan = default_plan().model_copy(update={"mute_notifications": False})
    lookups = Lookups(users_by_ado_id={"ado-ada": "acct-ada"})
    description = build_issue_fields(1, MENTIONING, plan, CATALOG, lookups).fields["description"]
    mentions = [n["attrs"] for n in nodes(description) if n.get("type") == "mention"]
    assert mentions == [{"id": "acct-ada", "text": "@Ada Lovelace"}]
