"""Metric labels name endpoints, never customer objects; JSON log lines are one parseable object each."""

from __future__ import annotations

import io
import json
import logging

import pytest

from migrayt.observability.metrics import endpoint_template, service_of, status_class
from migrayt.ops.logs import RunContext, current_run_id, json_formatter, log_format
from migrayt.settings import Settings


@pytest.mark.parametrize(
    ("method", "path", "template", "service"),
    [
        ("get", "/rest/api/3/issue/PHX-12/comment", "GET /rest/api/3/issue/{id}/comment", "jira"),
        ("POST", "/rest/api/3/issue/bulk", "POST /rest/api/3/issue/bulk", "jira"),
        ("PUT", "/rest/api/3/issue/10042/transitions", "PUT /rest/api/3/issue/{id}/transitions", "jira"),
        ("GET", "/rest/agile/1.0/board/7/sprint", "GET /rest/agile/1.0/board/{id}/sprint", "jira"),
        ("GET", "/acme/Phoenix/_apis/wit/workitems/123", "GET /_apis/wit/workitems/{id}", "ado"),
        (
            "GET",
            "/acme/_apis/wit/attachments/0f8fad5b-d9cb-469f-a165-70867728950e",
            "GET /_apis/wit/attachments/{id}",
            "ado",
        ),
    ],
)
def test_an_endpoint_template_keeps_no_customer_name_or_id(method, path, template, service):
    assert endpoint_template(method, path) == template
    assert service_of(path) == service


def test_status_classes_keep_429_apart():
    assert [status_class(s) for s in (200, 201, 404, 429, 503)] == ["2xx", "2xx", "4xx", "429", "5xx"]


def test_a_json_line_has_time_level_logger_message_and_its_run():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    handler.addFilter(RunContext())
    logger = logging.getLogger("migrayt.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    token = current_run_id.set("run-abc")
    try:
        logger.warning('batch %s said "hi"\nand more', 3)
    finally:
        current_run_id.reset(token)
        logger.removeHandler(handler)
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["logger"] == "migrayt.test-json"
    assert record["message"] == 'batch 3 said "hi"\nand more' and record["run_id"] == "run-abc"
    assert "T" in record["time"]


def test_json_is_the_default_on_a_shared_server_and_text_on_the_laptop():
    assert log_format(Settings(auth="on")) == "json"
    assert log_format(Settings(auth="off")) == "text"
    assert log_format(Settings(auth="on", log_format="text")) == "text"
