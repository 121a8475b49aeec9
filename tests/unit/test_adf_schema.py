"""The ADF schema check every ADF test uses, and proof that it is the real schema's verdict.

jsonschema's stock `anyOf` collects every error of every alternative, which makes
full.json (anyOf over ~25 node types at every level) take minutes on a 10,000-cell
table. `anyOf` only needs one passing alternative, so the validator here stops at
the first; the verdict is the same, and the stock validator still explains failures.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
from jsonschema import ValidationError, validators


def _schema_path() -> Path:
    """`MIGRAYT_SPECS_DIR`, else ../shared/specs next to the repo (as the sandbox finds it)."""
    from migrayt.sandbox.jira.adf import specs_dir

    return specs_dir() / "adf" / "full.json"


def _any_of(validator, subschemas, instance, schema):
    for index, subschema in enumerate(subschemas):
        if next(validator.descend(instance, subschema, schema_path=index), None) is None:
            return
    yield ValidationError(f"{instance!r:.200} is not valid under any of the given schemas")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(_schema_path().read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def adf_validator() -> jsonschema.protocols.Validator:
    """Compiled once per session."""
    cls = validators.extend(jsonschema.Draft4Validator, {"anyOf": _any_of})
    return cls(schema())


@lru_cache(maxsize=1)
def stock_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft4Validator(schema())


def assert_valid(doc: dict) -> None:
    if adf_validator().is_valid(doc):
        return
    error = jsonschema.exceptions.best_match(stock_validator().iter_errors(doc))
    raise AssertionError(f"ADF invalid: {error.message[:500] if error else '?'}\n{json.dumps(doc)[:2000]}")


def _doc(*blocks: dict) -> dict:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def _para(*inlines: dict) -> dict:
    return {"type": "paragraph", "content": list(inlines)}


SAMPLES = [
    (_doc(), True),
    (_doc(_para({"type": "text", "text": "x", "marks": [{"type": "strong"}, {"type": "em"}]})), True),
    # ADF forbids code combined with anything but link.
    (_doc(_para({"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]})), False),
    (_doc(_para({"type": "text", "text": ""})), False),
    (
        _doc(
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [{"type": "tableCell", "content": [{"type": "table", "content": []}]}],
                    }
                ],
            }
        ),
        False,
    ),
    (_doc({"type": "blockquote", "content": [{"type": "heading", "attrs": {"level": 1}, "content": []}]}), False),
    (_doc(_para({"type": "text", "text": "x", "marks": [{"type": "textColor", "attrs": {"color": "red"}}]})), False),
    (_doc({"type": "bulletList", "content": [{"type": "listItem", "content": [_para()]}]}), True),
]


@pytest.mark.parametrize(("doc", "valid"), SAMPLES)
def test_fast_validator_agrees_with_the_stock_one(doc: dict, valid: bool) -> None:
    assert stock_validator().is_valid(doc) is valid
    assert adf_validator().is_valid(doc) is valid


@pytest.mark.parametrize(("doc", "valid"), SAMPLES)
def test_the_sandbox_jira_refuses_what_the_stock_validator_refuses(doc: dict, valid: bool) -> None:
    """The sandbox's first check is jsonschema-rs; a document it passes must be one the real schema passes."""
    from migrayt.sandbox.jira.adf import adf_validator as sandbox_validator

    assert (sandbox_validator().first_error(doc) is None) is valid
