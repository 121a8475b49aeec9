"""Every `migrayt` command keeps its options: names, flags, envvars, defaults, prompts and help texts.

The golden file was captured from the CLI before its commands were each written once; a refactor that drops
or renames an option, an envvar or a help text fails here. Adding a command or changing an option on purpose:
regenerate it with `python -m tests.api.test_cli_options` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from migrayt.api.cli import app

GOLDEN = Path(__file__).parent / "golden" / "cli_options.json"


# What the command line sees of a parameter; the rest of click's attributes follow from these.
SEEN = (
    "name", "opts", "secondary_opts", "required", "default", "envvar", "help", "hidden", "prompt", "hide_input",
    "is_flag", "multiple", "nargs", "min", "max", "show_default", "metavar",
)  # fmt: skip
CHECKS = ("exists", "dir_okay", "file_okay", "clamp")


def _param(p: Any) -> dict[str, Any]:
    described = {k: getattr(p, k) for k in SEEN if hasattr(p, k)} | {"kind": type(p).__name__}
    typed = getattr(p, "type_descriptor", None)
    if typed is not None:
        described["annotation"] = repr(typed.annotation)
        described |= {k: getattr(typed.parameter_info, k) for k in CHECKS if hasattr(typed.parameter_info, k)}
    return json.loads(json.dumps(described, default=repr))  # as the golden file holds it (lists, not tuples)


def describe(command: Any, path: str = "migrayt") -> dict[str, Any]:
    """Each command by its path (`migrayt map show`): its help and its parameters in order."""
    tree = {
        path: {"help": command.help, "short_help": command.short_help, "params": [_param(p) for p in command.params]}
    }
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            tree |= describe(sub, f"{path} {name}")
    return tree


def current() -> dict[str, Any]:
    return describe(typer.main.get_command(app))


def test_every_command_keeps_its_options_envvars_and_help_texts() -> None:
    expected, actual = json.loads(GOLDEN.read_text()), current()
    assert sorted(actual) == sorted(expected), "commands added or lost"
    for path in expected:
        assert actual[path] == expected[path], path


@pytest.mark.parametrize("path", sorted(json.loads(GOLDEN.read_text())) if GOLDEN.exists() else [])
def test_help_lists_every_option(path: str) -> None:
    # What a user reads: `--help` runs (exit 0) and names each option the command takes.
    args = path.split()[1:]
    if args == ["sandbox"]:
        pytest.skip("the sandbox's help is its own (and loads the sandbox)")
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    for param in json.loads(GOLDEN.read_text())[path]["params"]:
        if param["kind"] == "TyperOption" and not param["hidden"]:
            assert param["opts"][0] in result.output, f"{path}: {param['opts'][0]} not in --help"


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
