"""Validate sandbox Jira responses against the official OpenAPI 3.0 specs in ../shared/specs/jira.

OpenAPI 3.0 schemas are draft-04-like JSON Schema plus `nullable`; `nullable: true` is turned into
"or null" before validation. `$ref`s resolve inside the spec document through `referencing`.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from migrayt.sandbox.jira.adf import specs_dir

PLATFORM = "urn:jira:platform"
AGILE = "urn:jira:agile"

# Operations whose spec declares no response schema (or the wrong one): what the documented
# example shows the body to be.
_OVERRIDES: dict[tuple[str, str, str], Any] = {
    # documented as a single RemoteIssueLink, but the operation returns a list of them
    ("platform", "GET", "/rest/api/3/issue/{issueIdOrKey}/remotelink"): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/RemoteIssueLink"},
    },
    ("agile", "POST", "/rest/agile/1.0/sprint"): {"$ref": "#/components/schemas/SprintBean"},
    ("agile", "GET", "/rest/agile/1.0/sprint/{sprintId}"): {"$ref": "#/components/schemas/SprintBean"},
    ("agile", "GET", "/rest/agile/1.0/board/{boardId}/sprint"): {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "isLast": {"type": "boolean"},
            "maxResults": {"type": "integer"},
            "startAt": {"type": "integer"},
            "total": {"type": "integer"},
            "values": {"type": "array", "items": {"$ref": "#/components/schemas/SprintBean"}},
        },
    },
}


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if out.pop("nullable", False):
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@lru_cache(maxsize=1)
def _specs() -> tuple[dict, dict, Registry]:
    base = specs_dir() / "jira"
    with open(base / "platform" / "swagger-v3.v3.json", encoding="utf-8") as fh:
        platform = _nullable(json.load(fh))
    with open(base / "software" / "software-swagger.v3.json", encoding="utf-8") as fh:
        agile = _nullable(json.load(fh))
    registry = Registry().with_resources(
        [
            (PLATFORM, Resource.from_contents(platform, default_specification=DRAFT4)),
            (AGILE, Resource.from_contents(agile, default_specification=DRAFT4)),
        ]
    )
    return platform, agile, registry


def _with_base(schema: Any, uri: str) -> Any:
    """Point local `#/...` refs at the spec document they come from."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                node["$ref"] = uri + ref
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return schema


def response_schema(method: str, path: str, status: int) -> tuple[Any, str] | None:
    """The documented JSON schema of a response, and which spec it lives in; None if undocumented."""
    platform, agile, _ = _specs()
    which, spec = ("agile", agile) if path.startswith("/rest/agile/") else ("platform", platform)
    override = _OVERRIDES.get((which, method.upper(), path))
    if override is not None and 200 <= status < 300:
        return override, which
    op = spec["paths"][path][method.lower()]
    response = op["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"{method} {path} does not document status {status}")
    content = response.get("content", {}).get("application/json")
    if not content or "schema" not in content:
        return None
    return content["schema"], which


def match_path(method: str, concrete: str) -> str:
    """The spec path template for a concrete request path (e.g. /rest/api/3/issue/PHX-1 -> .../{issueIdOrKey})."""
    platform, agile, _ = _specs()
    concrete = concrete.split("?", 1)[0]
    spec = agile if concrete.startswith("/rest/agile/") else platform
    candidates = []
    for template, ops in spec["paths"].items():
        if method.lower() not in ops:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, concrete):
            candidates.append(template)
    if not candidates:
        raise AssertionError(f"no documented operation for {method} {concrete}")
    # prefer the most literal template (fewest parameters)
    return min(candidates, key=lambda t: (t.count("{"), -len(t)))


def validate_response(method: str, concrete_path: str, status: int, body: Any) -> str:
    """Raise jsonschema.ValidationError when `body` breaks the documented schema; returns the template."""
    template = match_path(method, concrete_path)
    found = response_schema(method, template, status)
    if found is None:
        return template
    schema, which = found
    _, _, registry = _specs()
    uri = AGILE if which == "agile" else PLATFORM
    Draft4Validator(_with_base(schema, uri), registry=registry).validate(body)
    return template
