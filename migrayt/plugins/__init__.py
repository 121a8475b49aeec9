"""Phase 8's plugins, each one module here with one `Plugin` subclass (contract: migrayt/plugins/contract.py),
found through its line in the phase registry (`Phase(..., plugin="<module>")` in migrayt/contracts/phases.py)."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from migrayt.contracts.phases import PHASES
from migrayt.plugins.contract import Detection, MappingNeed, Plugin, PluginFinding, PluginScan, will_run

__all__ = ["Detection", "MappingNeed", "Plugin", "PluginFinding", "PluginScan", "all_plugins", "plugin", "will_run"]


@cache
def all_plugins() -> dict[str, Plugin]:
    """Every registered plugin by its phase name, in registry order (one instance per process)."""
    found: dict[str, Plugin] = {}
    for p in PHASES:
        if p.plugin is None:
            continue
        module = import_module(f"{__name__}.{p.plugin}")
        classes = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Plugin) and c.__module__ == module.__name__
        ]
        if len(classes) != 1:
            raise LookupError(f"{module.__name__} must define exactly one Plugin subclass, found {len(classes)}")
        cls = classes[0]
        cls.name = p.name
        found[p.name] = cls()
    return found


def plugin(name: str) -> Plugin:
    return all_plugins()[name]


def plugin_of_kind(kind: str) -> Plugin | None:
    """The plugin whose writes records of this kind are (undo asks it to remove them)."""
    return next((p for p in all_plugins().values() if kind in p.billed_kinds or kind in p.undone_kinds), None)


def billed_units() -> dict[str, str]:
    """Record kind → price-table unit, of every plugin's writes."""
    return {kind: unit for p in all_plugins().values() for kind, unit in p.billed_kinds.items()}
