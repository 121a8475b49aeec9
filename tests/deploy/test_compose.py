"""deploy/compose/compose.yaml, parsed and checked: health checks, no inline secret, one image, migration first."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.deploy.compose_checks import compose_problems

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"


def ignored() -> set[str]:
    return {line.strip() for line in (COMPOSE / ".gitignore").read_text().splitlines() if line.strip()}


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_the_compose_file_passes_every_check(compose):
    assert compose_problems(compose, ignored()) == []


def test_it_has_every_piece(compose):
    services = compose["services"]
    assert {
        "postgresql",
        "temporal",
        "temporal-ui",
        "temporal-admin-tools",
        "migrayt-migrate",
        "migrayt-setup-temporal",
        "migrayt-api",
        "migrayt-worker",
    } <= set(services)
    assert services["temporal"]["environment"]["DB"].startswith("postgres")  # PostgreSQL persistence
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert services["migrayt-worker"]["command"] == ["worker"]


def test_the_example_env_file_holds_no_value_for_a_secret():
    for line in (COMPOSE / "migrayt.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            assert value in ("",) or "CHANGE-ME" in value, name


# -- each check catches its broken file --------------------------------------------------------------------


def test_a_service_without_a_healthcheck_is_caught(compose):
    broken = copy.deepcopy(compose)
    del broken["services"]["temporal-ui"]["healthcheck"]
    assert compose_problems(broken, ignored()) == [
        'temporal-ui: no healthcheck (and not a one-off job with restart: "no")'
    ]


def test_an_inline_secret_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["postgresql"]["environment"] = {"POSTGRES_PASSWORD": "hunter2"}
    assert compose_problems(broken, ignored()) == ["postgresql: secret POSTGRES_PASSWORD has its value inline"]


def test_credentials_inside_a_url_are_caught_under_any_name(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["migrayt-worker"]["command"] = ["worker", "--database-url", "postgresql://migrayt:hunter2@db/m"]
    assert compose_problems(broken, ignored()) == ["migrayt-worker: a URL with credentials inline"]


def test_an_env_file_that_git_would_commit_is_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["migrayt-worker"]["env_file"] = ["secrets.env"]
    assert compose_problems(broken, ignored()) == ["migrayt-worker: env file secrets.env is not git-ignored"]


def test_workers_on_another_image_are_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["migrayt-worker"]["image"] = "migrayt-worker:old"
    assert compose_problems(broken, ignored()) == ["the API, workers and migration job do not use one image"]


def test_workers_that_do_not_wait_for_the_migration_are_caught(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["migrayt-worker"]["depends_on"]["migrayt-migrate"]["condition"] = "service_started"
    assert compose_problems(broken, ignored()) == [
        "migrayt-worker: does not wait for migrayt-migrate to complete successfully"
    ]
