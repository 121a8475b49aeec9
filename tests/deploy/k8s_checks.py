"""The Kubernetes output of deploy/kubernetes: rendered with kustomize, validated against Kubernetes' own
schemas (kubernetes-validate), and held to Migrayt's rules; each function returns problems (empty: fine)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.32.0"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CODEC_KEYS|DATABASE_URL", re.IGNORECASE)
WORKLOADS = ("Deployment", "Job")


def render(directory: Path) -> list[dict]:
    """`kubectl kustomize` when kubectl is there; else the same for what our kustomizations use
    (resources, namespace, images), so the check runs on a machine without kubectl too."""
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True)
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    return _render_in_python(directory)


def _render_in_python(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs += _render_in_python(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    images = {i["name"]: f"{i.get('newName', i['name'])}:{i['newTag']}" for i in kustomization.get("images", [])}
    for doc in docs:
        if "namespace" in kustomization:
            doc.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
        for container in _containers(doc):
            container["image"] = images.get(container["image"], container["image"])
    return docs


def _pod_spec(doc: dict) -> dict | None:
    if doc.get("kind") in WORKLOADS:
        return doc["spec"]["template"]["spec"]
    return None


def _containers(doc: dict) -> list[dict]:
    spec = _pod_spec(doc)
    return [] if spec is None else [*spec.get("initContainers", []), *spec.get("containers", [])]


def schema_problems(docs: list[dict]) -> list[str]:
    problems = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(copy.deepcopy(doc), KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if doc.get("apiVersion") != "keda.sh/v1alpha1":  # a CRD: checked by scaled_object_problems
                problems.append(f"{name}: no schema for {doc.get('apiVersion')}")
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message}")
    return problems


def rule_problems(docs: list[dict]) -> list[str]:
    problems = []
    images = set()
    for doc in docs:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        if kind == "Secret" and any(v for v in {**doc.get("data", {}), **doc.get("stringData", {})}.values()):
            problems.append(f"Secret/{name}: holds values (secrets never live in git)")
        spec = _pod_spec(doc)
        if spec is None:
            continue
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{kind}/{name}: may run as root")
        for c in _containers(doc):
            images.add(c["image"].split(":")[0])
            requests = c.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= set(requests):
                problems.append(f"{kind}/{name}/{c['name']}: no cpu and memory requests")
            if {"name": "migrayt-secrets"} not in [e.get("secretRef") for e in c.get("envFrom", [])]:
                problems.append(f"{kind}/{name}/{c['name']}: does not read the Secret migrayt-secrets")
            for env in c.get("env", []):
                if SECRET_NAME.search(env["name"]) and "value" in env:
                    problems.append(f"{kind}/{name}/{c['name']}: secret {env['name']} has its value inline")
            if kind == "Deployment":
                if "livenessProbe" not in c:
                    problems.append(f"{kind}/{name}/{c['name']}: no liveness probe")
                if c.get("args", [None])[0] == "api":
                    ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
                    if ready != "/readyz":
                        problems.append(f"{kind}/{name}/{c['name']}: readiness is not /readyz")
    if len(images) > 1:
        problems.append(f"API, workers and jobs use different images: {sorted(images)}")
    return problems


def scaled_object_problems(docs: list[dict]) -> list[str]:
    """KEDA's CRD schema is not in kubernetes-validate: the fields the Temporal scaler needs, checked here."""
    config = next(d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "migrayt-config")["data"]
    deployments = {d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"}
    problems = []
    scaled = [d for d in docs if d.get("kind") == "ScaledObject"]
    if not scaled:
        return ["no ScaledObject for the workers"]
    for doc in scaled:
        spec = doc["spec"]
        if spec.get("scaleTargetRef", {}).get("name") not in deployments:
            problems.append("ScaledObject: its target is not a Deployment here")
        if not 1 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 0):
            problems.append("ScaledObject: replica bounds must be 1 <= min <= max (a run needs a worker)")
        for trigger in spec.get("triggers", []):
            meta = trigger.get("metadata", {})
            if trigger.get("type") != "temporal":
                problems.append(f"ScaledObject: trigger {trigger.get('type')} is not the Temporal backlog")
                continue
            if meta.get("taskQueue") != config["MIGRAYT_TASK_QUEUE"]:
                problems.append("ScaledObject: watches another task queue than the workers poll")
            if meta.get("namespace") != config["MIGRAYT_TEMPORAL_NAMESPACE"]:
                problems.append("ScaledObject: watches another Temporal namespace than the workers use")
            if meta.get("endpoint") != config["MIGRAYT_TEMPORAL_ADDRESS"]:
                problems.append("ScaledObject: asks another Temporal than the workers use")
            if not str(meta.get("targetQueueSize", "")).isdigit():
                problems.append("ScaledObject: targetQueueSize must be a whole number")
    return problems
