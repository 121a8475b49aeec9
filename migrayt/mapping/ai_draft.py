"""AI drafting: the sanitised schema goes to an OpenAI-compatible model, a structured draft comes back.

Only `SanitisedSchema` is ever sent (see sanitiser.py); the answer is parsed into pydantic models and
merged into the rule draft only where it names things that exist on both sides. Requests ask the
provider not to store them (`store=False`); the key, base URL and model come from settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from migrayt.mapping.matcher import RUN_OWNED_FIELDS
from migrayt.mapping.plan import EntryOrigin, FieldMapping, FieldTransform, MappingPlan
from migrayt.mapping.sanitiser import SanitisedSchema
from migrayt.mapping.schema import SourceSchema, TargetSchema

# An AI entry replaces a rule entry only when the rule was this unsure.
REPLACE_BELOW = 0.8
# AI entries are never as sure as a same-name match.
AI_CONFIDENCE_CAP = 0.9

SYSTEM_PROMPT = (
    "You map an Azure DevOps Boards process onto a Jira project. You get only schema metadata: "
    "work item types and their states, fields (reference name, display name, type, allowed values), "
    "link types and priorities on the source side, and issue types, statuses, fields, priorities and "
    "link types on the target side. Propose, for each source element, the best target element by "
    "meaning, using only names that appear in the target lists. Give each choice a confidence "
    "between 0 and 1. Field transforms: text, rich_text, number, date, identity, picklist, tags. "
    "Leave out anything without a sensible counterpart."
)


class AiChoice(BaseModel):
    source: str
    target: str
    confidence: float


class AiFieldChoice(BaseModel):
    source: str  # ADO reference name
    target: str  # Jira field id
    transform: FieldTransform
    confidence: float


class AiMappingDraft(BaseModel):
    types: list[AiChoice] = Field(default_factory=list)
    states: list[AiChoice] = Field(default_factory=list)  # ADO state name → Jira status name
    priorities: list[AiChoice] = Field(default_factory=list)
    fields: list[AiFieldChoice] = Field(default_factory=list)
    link_types: list[AiChoice] = Field(default_factory=list)  # ADO relation reference name → Jira link type


async def ask_model(
    schema: SanitisedSchema, *, api_key: SecretStr, model: str, base_url: str | None = None, timeout: float = 60.0
) -> AiMappingDraft:
    from openai import AsyncOpenAI  # imported here: the worker only needs it when a tenant consented

    client = AsyncOpenAI(api_key=api_key.get_secret_value(), base_url=base_url, timeout=timeout, max_retries=2)
    try:
        completion = await client.chat.completions.parse(
            model=model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": schema.model_dump_json()},
            ],
            response_format=AiMappingDraft,
            temperature=0,
            store=False,
        )
    finally:
        await client.close()
    parsed = completion.choices[0].message.parsed
    return parsed or AiMappingDraft()


def _take(plan: MappingPlan, key: str) -> bool:
    current = plan.provenance.get(key)
    return current is None or (current.origin == "rule" and current.confidence < REPLACE_BELOW)


def _origin(choice_confidence: float, model: str) -> EntryOrigin:
    return EntryOrigin(
        origin="ai",
        confidence=round(max(0.0, min(choice_confidence, AI_CONFIDENCE_CAP)), 3),
        note=f"suggested by {model}",
    )


def merge(plan: MappingPlan, draft: AiMappingDraft, source: SourceSchema, target: TargetSchema, model: str) -> int:
    """Fold AI choices into the rule draft where both ends exist; returns how many entries it set."""
    taken = 0
    type_names = {t.name for t in target.issue_types if not t.subtask}
    status_names = {s.name for s in target.statuses()}
    source_types = {t.name for t in source.types}
    source_states = {s.name for t in source.types for s in t.states}
    for c in draft.types:
        if c.source in source_types and c.target in type_names and _take(plan, f"types/{c.source}"):
            plan.types[c.source] = c.target
            plan.provenance[f"types/{c.source}"] = _origin(c.confidence, model)
            taken += 1
    for c in draft.states:
        if c.source in source_states and c.target in status_names and _take(plan, f"states/*/{c.source}"):
            plan.states.setdefault("*", {})[c.source] = c.target
            plan.provenance[f"states/*/{c.source}"] = _origin(c.confidence, model)
            taken += 1
    for c in draft.priorities:
        if c.source in source.priorities and c.target in target.priorities and _take(plan, f"priorities/{c.source}"):
            plan.priorities[c.source] = c.target
            plan.provenance[f"priorities/{c.source}"] = _origin(c.confidence, model)
            taken += 1
    for c in draft.link_types:
        if c.source in source.link_types and c.target in target.link_types and not c.source.endswith("-Reverse"):
            if _take(plan, f"link_types/{c.source}"):
                plan.link_types[c.source] = c.target
                plan.provenance[f"link_types/{c.source}"] = _origin(c.confidence, model)
                taken += 1
    mapped_sources = {m.source for m in plan.fields}
    used_targets = {m.target for m in plan.fields}
    source_fields = {
        f.reference_name
        for f in source.fields
        if not f.reference_name.startswith("System.") and f.reference_name not in RUN_OWNED_FIELDS
    }
    target_fields = {f.id for f in target.fields}
    for field_choice in draft.fields:
        if (
            field_choice.source in source_fields
            and field_choice.target in target_fields
            and field_choice.source not in mapped_sources
            and field_choice.target not in used_targets
        ):
            o = _origin(field_choice.confidence, model)
            plan.fields.append(
                FieldMapping(
                    source=field_choice.source,
                    target=field_choice.target,
                    transform=field_choice.transform,
                    origin="ai",
                    confidence=o.confidence,
                )
            )
            mapped_sources.add(field_choice.source)
            used_targets.add(field_choice.target)
            taken += 1
    return taken
