"""deploy/kubernetes rendered (kustomize) and validated against Kubernetes' schemas and Migrayt's rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.deploy.k8s_checks import _render_in_python, render, rule_problems, scaled_object_problems, schema_problems

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(K8S / "base")


@pytest.fixture(scope="module")
def migrate() -> list[dict]:
    return render(K8S / "migrate")


def named(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_base_is_valid_kubernetes_and_keeps_the_rules(base):
    kinds = {d["kind"] for d in base}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "ScaledObject", "PodDisruptionBudget"} <= kinds
    assert schema_problems(base) == []
    assert rule_problems(base) == []
    assert scaled_object_problems(base) == []


def test_the_migration_job_is_valid_and_upgrades_the_schema_first(migrate):
    assert schema_problems(migrate) == []
    assert rule_problems(migrate) == []
    job = named(migrate, "Job", "migrayt-migrate")["spec"]["template"]["spec"]
    assert [c["args"] for c in job["initContainers"]] == [["db", "upgrade"]]
    assert [c["args"] for c in job["containers"]] == [["setup", "temporal"]]


def test_the_python_rendering_matches_kustomize(base):
    """Where kubectl is missing the test renders in Python: it must give what kustomize gives."""
    ours = _render_in_python(K8S / "base")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, ours)) == sorted(map(key, base))
    assert {
        c["image"] for d in ours for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    } == {"registry.example.com/migrayt:0.1.0"}


def test_the_secret_template_is_a_valid_secret_with_no_value():
    (secret,) = [d for d in yaml.safe_load_all((K8S / "secret-template.yaml").read_text()) if d]
    assert schema_problems([secret]) == []
    assert rule_problems([secret]) == []
    assert {"MIGRAYT_DATABASE_URL", "MIGRAYT_CODEC_KEYS", "MIGRAYT_SECRET_KEY", "MIGRAYT_ADMIN_TOKEN"} <= set(
        secret["stringData"]
    )


# -- each check catches its broken manifest ------------------------------------------------------------------


def test_a_misspelt_field_fails_the_kubernetes_schema(base):
    broken = copy.deepcopy(named(base, "Deployment", "migrayt-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {
        "httpGet": {"path": "/readyz", "port": 8000}
    }
    problems = schema_problems([broken])
    assert len(problems) == 1 and problems[0].startswith("Deployment/migrayt-api:") and "readinessprobe" in problems[0]


def test_a_wrong_type_fails_the_kubernetes_schema(base):
    broken = copy.deepcopy(named(base, "Deployment", "migrayt-worker"))
    broken["spec"]["replicas"] = "two"
    assert len(schema_problems([broken])) == 1


def test_a_container_without_requests_is_caught(base):
    broken = copy.deepcopy(named(base, "Deployment", "migrayt-worker"))
    del broken["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert rule_problems([broken]) == ["Deployment/migrayt-worker/worker: no cpu and memory requests"]


def test_an_inline_secret_is_caught(base):
    broken = copy.deepcopy(named(base, "Deployment", "migrayt-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "MIGRAYT_ADMIN_TOKEN", "value": "x" * 43}]
    assert rule_problems([broken]) == ["Deployment/migrayt-api/api: secret MIGRAYT_ADMIN_TOKEN has its value inline"]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"MIGRAYT_SECRET_KEY": "k"},
    }
    assert rule_problems([secret]) == ["Secret/s: holds values (secrets never live in git)"]


def test_an_api_without_readiness_on_readyz_is_caught(base):
    broken = copy.deepcopy(named(base, "Deployment", "migrayt-api"))
    del broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert rule_problems([broken]) == ["Deployment/migrayt-api/api: readiness is not /readyz"]


def test_workers_on_another_image_are_caught(base):
    broken = copy.deepcopy(base)
    named(broken, "Deployment", "migrayt-worker")["spec"]["template"]["spec"]["containers"][0]["image"] = "other:1"
    assert rule_problems(broken) == [
        "API, workers and jobs use different images: ['other', 'registry.example.com/migrayt']"
    ]


def test_autoscaling_on_another_queue_is_caught(base):
    broken = copy.deepcopy(base)
    named(broken, "ScaledObject", "migrayt-worker")["spec"]["triggers"][0]["metadata"]["taskQueue"] = "other"
    assert scaled_object_problems(broken) == ["ScaledObject: watches another task queue than the workers poll"]
