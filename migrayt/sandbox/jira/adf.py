"""Atlassian Document Format checks, as Jira REST v3 applies them to rich-text fields.

The schema is the official `full.json` (draft-04). Plain jsonschema spends ~100 ms on a modest
document because every `anyOf` tries all ~40 node kinds; nodes carry their kind in `type`, so
the validator first narrows each `anyOf` to the branches that accept that `type`. Same verdicts,
a few ms per document — still a tenth of the CPU of a test run's sandbox, so a document is first
checked by jsonschema-rs (compiled, ~300× faster) and only one it refuses goes through the Python
validator, whose verdict and message stand.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft4Validator, ValidationError, validators

# Jira counts the stored (compact JSON) form of the document against this limit.
CONTENT_LIMIT = 32_767


def specs_dir() -> Path:
    """The official contracts: `MIGRAYT_SPECS_DIR`, else the copy in the repo (`specs/`, from ../shared/specs)."""
    env = os.environ.get("MIGRAYT_SPECS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    vendored = repo / "specs"
    return vendored if vendored.is_dir() else repo.parent / "shared" / "specs"


def _discriminator(sub: dict, defs: dict, seen: frozenset[str] = frozenset()) -> set[str] | None:
    """The `type` values a subschema can accept, or None when it does not constrain `type`."""
    if "$ref" in sub:
        name = sub["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return None
        return _discriminator(defs[name], defs, seen | {name})
    enum = sub.get("properties", {}).get("type", {}).get("enum")
    if enum:
        return set(enum)
    for part in sub.get("allOf", ()):
        found = _discriminator(part, defs, seen)
        if found:
            return found
    if "anyOf" in sub:
        union: set[str] = set()
        for part in sub["anyOf"]:
            found = _discriminator(part, defs, seen)
            if found is None:
                return None
            union |= found
        return union
    return None


class AdfValidator:
    def __init__(self, schema: dict) -> None:
        defs = schema.get("definitions", {})
        # anyOf list identity -> (branches by node type, branches that accept any type)
        branches: dict[int, tuple[dict[str, list[dict]], list[dict]]] = {}

        def any_of(validator: Any, any_of: list, instance: Any, _schema: dict) -> Iterator[ValidationError]:
            entry = branches.get(id(any_of))
            if entry is None:
                by_type: dict[str, list[dict]] = {}
                generic: list[dict] = []
                for sub in any_of:
                    kinds = _discriminator(sub, defs)
                    if kinds is None:
                        generic.append(sub)
                    else:
                        for kind in kinds:
                            by_type.setdefault(kind, []).append(sub)
                entry = branches[id(any_of)] = (by_type, generic)
            by_type, generic = entry
            node_type = instance.get("type") if isinstance(instance, dict) else None
            candidates = by_type.get(node_type, []) + generic if isinstance(node_type, str) else generic
            for sub in candidates:
                if next(validator.descend(instance, sub), None) is None:
                    return
            yield ValidationError(f"{node_type!r} is not valid under any of the given schemas")

        cls = validators.extend(Draft4Validator, {"anyOf": any_of})
        self._schema = schema
        self._validator = cls(schema)
        self._fast = jsonschema_rs.Draft4Validator(schema)

    def first_error(self, doc: Any) -> str | None:
        if self._fast.is_valid(doc):
            return None
        err = next(self._validator.iter_errors(doc), None)
        if err is None:
            return None
        where = "/".join(str(p) for p in err.absolute_path)
        return f"{where or '(root)'}: {err.message}"


@lru_cache(maxsize=1)
def adf_validator() -> AdfValidator:
    with open(specs_dir() / "adf" / "full.json", encoding="utf-8") as fh:
        return AdfValidator(json.load(fh))


def stored_length(doc: Any) -> int:
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def is_adf_shaped(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc"


def plain_text(doc: Any) -> str:
    """Text content of an ADF document (paragraph-like blocks on their own lines), for checkers."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "text":
            out.append(str(node.get("text", "")))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "mention":
            out.append(str(node.get("attrs", {}).get("text") or "@" + str(node.get("attrs", {}).get("id", ""))))
        elif kind == "emoji":
            out.append(str(node.get("attrs", {}).get("text") or node.get("attrs", {}).get("shortName", "")))
        elif kind in ("inlineCard", "blockCard", "embedCard"):
            out.append(str(node.get("attrs", {}).get("url", "")))
        for child in node.get("content", ()) or ():
            walk(child)
        if kind in ("paragraph", "heading", "codeBlock", "listItem", "tableRow", "blockquote", "rule"):
            out.append("\n")

    walk(doc)
    return "".join(out).strip("\n")
