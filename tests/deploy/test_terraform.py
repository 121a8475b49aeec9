"""deploy/terraform/aws checked offline: checkov's static analysis and `terraform fmt -check`, each where
its tool is installed (the skip says which is missing and how to get it), and each shown to fail on a broken file.

checkov is not in the dev extras: it pins older versions of packages Migrayt uses (packaging, boto3…), so it
lives in its own virtualenv; point MIGRAYT_CHECKOV at it (CI: `python -m venv /opt/checkov &&
/opt/checkov/bin/pip install checkov`, then MIGRAYT_CHECKOV=/opt/checkov/bin/checkov).
`terraform validate` is not run: it needs `terraform init`, which downloads the providers (no network here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TERRAFORM = Path(__file__).resolve().parents[2] / "deploy" / "terraform" / "aws"


def checkov_binary() -> str:
    found = os.environ.get("MIGRAYT_CHECKOV") or shutil.which("checkov")
    if not found or not Path(found).exists():
        pytest.skip("checkov is not installed: install it in its own venv and set MIGRAYT_CHECKOV (see this module)")
    return found


def checkov(directory: Path) -> dict:
    result = subprocess.run(
        [
            checkov_binary(),
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    # --quiet leaves an empty "results" out when everything passed
    return {
        "exit": result.returncode,
        "failed": [c["check_id"] for c in report.get("results", {}).get("failed_checks", [])],
    }


def terraform_binary() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("no terraform binary on this machine: `terraform fmt -check` not run")
    return found


def copy_module(tmp_path: Path) -> Path:
    target = tmp_path / "aws"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return target


def test_checkov_finds_nothing(tmp_path):
    outcome = checkov(TERRAFORM)
    assert outcome == {"exit": 0, "failed": []}


def test_checkov_catches_a_public_unencrypted_database(tmp_path):
    broken = copy_module(tmp_path)
    data = broken / "data.tf"
    text = data.read_text().replace(
        "storage_encrypted                   = true", "storage_encrypted                   = false"
    )
    data.write_text(
        text.replace("publicly_accessible                 = false", "publicly_accessible                 = true")
    )
    outcome = checkov(broken)
    assert outcome["exit"] != 0
    assert {"CKV_AWS_16", "CKV_AWS_17"} <= set(outcome["failed"])  # storage encrypted, not public


def test_terraform_fmt_check_passes():
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", str(TERRAFORM)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_fmt_check_catches_a_misformatted_file(tmp_path):
    broken = copy_module(tmp_path)
    (broken / "outputs.tf").write_text(
        (broken / "outputs.tf").read_text().replace("  value = aws_lb.api.dns_name", "value=aws_lb.api.dns_name")
    )
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "outputs.tf" in result.stdout


def test_the_readme_names_every_required_variable():
    """A variable without a default must be given: the README's table is where an operator looks."""
    variables = (TERRAFORM / "variables.tf").read_text()
    blocks = re.findall(r'variable "(\w+)" \{(.*?)\n\}', variables, re.S)
    required = {name for name, body in blocks if "default" not in body}
    assert {"image", "certificate_arn", "api_host_name", "temporal_address", "temporal_namespace"} == required
    readme = (TERRAFORM / "README.md").read_text()
    assert [name for name in sorted(required) if f"`{name}`" not in readme] == []
