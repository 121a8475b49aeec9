"""Sandbox Jira Cloud: platform REST v3 + Agile 1.0, in memory, optionally persisted to a state dir."""

from .app import create_jira_app
from .config import JiraSandboxConfig, JiraUserSeed

__all__ = ["JiraSandboxConfig", "JiraUserSeed", "create_jira_app"]
