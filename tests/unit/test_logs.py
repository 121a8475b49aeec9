"""What the worker's and API's log lines may hold."""

from __future__ import annotations

import logging

import pytest

from migrayt.ops.logs import configure_logging
from migrayt.settings import Settings


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_level = logging.getLogger("httpx").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)


def test_httpx_request_lines_with_a_customers_host_and_issue_keys_are_not_logged(restored_logging, capsys):
    configure_logging(Settings(log_level="INFO"))
    logging.getLogger("httpx").info('HTTP Request: GET https://acme.atlassian.net/rest/api/3/issue/PHX-12 "200 OK"')
    logging.getLogger("migrayt.test").info("a batch of 50 items done")
    err = capsys.readouterr().err
    assert "a batch of 50 items done" in err
    assert "acme.atlassian.net" not in err and "PHX-12" not in err
