"""Sandbox Azure DevOps Services (REST 7.1) serving a generated project."""

from migrayt.sandbox.ado.app import AdoSandboxConfig, create_ado_app, project_counts

__all__ = ["AdoSandboxConfig", "create_ado_app", "project_counts"]
