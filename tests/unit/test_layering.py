"""The layers of docs/architecture.md, held: every import of every module under migrayt/, read with `ast`.

Imports inside functions and under TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "migrayt"

# The doors: the HTTP API and web app, the CLI (migrayt.api.cli and its commands), the launcher, and the
# commands that run one process each on real infrastructure (migrayt.ops: `migrayt api`, `db upgrade`, ...).
DOORS = ("migrayt.api", "migrayt.launcher", "migrayt.ops")
ABOVE_CONNECTORS_AND_STORE = (
    "migrayt.core",
    "migrayt.activities",
    "migrayt.workflows",
    "migrayt.api",
    "migrayt.worker",
    "migrayt.launcher",
    "migrayt.ops",
    "migrayt.temporal",
    "migrayt.translation",
)
# Pure rules over Jira and ADO data: no I/O layer above the connectors.
ABOVE_TRANSLATION = (
    "migrayt.core",
    "migrayt.activities",
    "migrayt.workflows",
    "migrayt.api",
    "migrayt.worker",
    "migrayt.launcher",
    "migrayt.ops",
    "migrayt.store",
    "migrayt.temporal",
    "migrayt.scheduling",
    "migrayt.billing",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing module's package
            base = module.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # `from migrayt.api import cli` names a module too.
        return [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
    return []


@cache
def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = graph.setdefault(module, set())
        for node in ast.walk(tree):
            names.update(n for n in _imported(node, module, path.name == "__init__.py") if n.startswith("migrayt"))
    return graph


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _breaches(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in import_graph().items()
        if _within(module, importers)
        for name in names
        if _within(name, forbidden) and not _within(name, (module,))
    )


def test_the_graph_sees_every_layer() -> None:
    # A guard for the tests below: a parse that found nothing would let every rule pass.
    modules = import_graph()
    for package in ("migrayt.api.cli", "migrayt.core.runs", "migrayt.contracts.runs", "migrayt.workflows.engine"):
        assert package in modules
    assert "migrayt.core.runs" in modules["migrayt.api.app"]


def test_nothing_outside_the_doors_imports_the_api() -> None:
    breaches = sorted(
        f"{module} imports {name}"
        for module, names in import_graph().items()
        if not _within(module, DOORS)
        for name in names
        if _within(name, ("migrayt.api",))
    )
    assert breaches == []


def test_activities_never_import_workflows() -> None:
    assert _breaches(("migrayt.activities",), ("migrayt.workflows",)) == []


@pytest.mark.parametrize("layer", ["migrayt.connectors", "migrayt.store"])
def test_connectors_and_store_import_no_upper_layer(layer: str) -> None:
    assert _breaches((layer,), ABOVE_CONNECTORS_AND_STORE) == []


def test_contracts_import_only_contracts() -> None:
    # The bottom of the house: every layer may import a contract, so a contract imports no layer.
    breaches = sorted(
        f"{module} imports {name}"
        for module, names in import_graph().items()
        if _within(module, ("migrayt.contracts",))
        for name in names
        if name != "migrayt" and not _within(name, ("migrayt.contracts",))
    )
    assert breaches == []


def test_translation_rules_stay_pure() -> None:
    assert _breaches(("migrayt.translation",), ABOVE_TRANSLATION) == []


def test_the_core_starts_workflows_but_no_worker_or_door_code() -> None:
    assert _breaches(("migrayt.core",), ("migrayt.api", "migrayt.worker", "migrayt.launcher", "migrayt.ops")) == []


def test_the_product_cli_loads_without_the_sandbox() -> None:
    # The sandbox is a test double: `migrayt --help` and every product command run without importing it.
    probe = "import sys, migrayt.api.cli; print(sorted(m for m in sys.modules if m.startswith('migrayt.sandbox')))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
