"""Values put into JQL stay values: a quote, backslash or keyword in a project key or label cannot change the query.

Read back with the sandbox Jira's own JQL parser (the one its search answers from).
"""

from __future__ import annotations

import pytest

from migrayt.connections import TargetConnection
from migrayt.connectors.jira import labels_search_jql
from migrayt.sandbox.jira.jql import And, Clause, parse

HOSTILE = [
    'PHX" OR project != "PHX',
    "PHX' OR project != 'PHX",
    'PHX\\" OR labels is not EMPTY OR "',
    "PHX) OR (project = X",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_project_key_stays_one_project_clause(value: str):
    query = parse(labels_search_jql(["ado-id-1", "ado-id-2"], project_key=value))
    assert query.where == And((Clause("project", "=", (value,)), Clause("labels", "in", ("ado-id-1", "ado-id-2")))), (
        query.where
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_label_stays_one_value(value: str):
    query = parse(labels_search_jql([value, "ado-id-9"], project_key="PHX"))
    assert query.where == And((Clause("project", "=", ("PHX",)), Clause("labels", "in", (value, "ado-id-9")))), (
        query.where
    )


@pytest.mark.parametrize("value", HOSTILE + ["phx", "P", "ABCDEFGHIJK", "PHX\n"])
def test_a_stored_target_with_a_bad_project_key_does_not_load(value: str):
    with pytest.raises(ValueError):
        TargetConnection(
            base_url="https://acme.atlassian.net", project_key=value, email="m@example.com", token_ref="env:X"
        )
