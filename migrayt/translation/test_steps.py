"""ADO test case steps → ordered Xray manual steps, and ADO parameters with their data rows → an Xray dataset.

The input is `Microsoft.VSTS.TCM.Steps` XML as ADO stores it: `<steps>` holding `<step>` elements (two
`<parameterizedString>`s, the action then the expected result, HTML-escaped when `isformatted="true"`) and
`<compref ref="N">` elements, each a reference to the Shared Steps work item N, expanded here in place. ADO nests
the steps that follow a shared steps reference inside its `<compref>`, so a compref's children come after the
shared steps it names. Parameters are `@name` in step text, declared in `Microsoft.VSTS.TCM.Parameters`
(`<parameters><param name=…/></parameters>`) with rows in `Microsoft.VSTS.TCM.LocalDataSource`
(`<NewDataSet><Table1><name>value</name>…</Table1>…</NewDataSet>`); Xray writes a parameter as `${name}`.

The XML comes from a source we do not control, so it is parsed with defusedxml (no entities, no DTDs), and a
malformed document, a cycle of shared steps or a missing one is a reason the test case fails, never a crash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as StdET
from collections.abc import Mapping
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from selectolax.lexbor import LexborHTMLParser as HTMLParser

# Without Xray the steps are appended to the description under this heading (migrayt/plugins/xray.py);
# validation compares the description above it.
STEPS_TABLE_HEADING = "Test steps (from Azure DevOps)"
# Xray keeps a step field up to this many characters (its import refuses longer ones).
STEP_TEXT_LIMIT = 32_000
# Shared steps may not nest in ADO; a hostile document could still try, and depth is bounded anyway.
MAX_SHARED_DEPTH = 8

_SPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6")


class StepsError(ValueError):
    """Why a test case's steps cannot be read: the reason its item fails."""


@dataclass(frozen=True)
class TestStep:
    __test__ = False  # a test step, not a pytest test class

    action: str
    expected: str = ""
    # the Shared Steps work item this step came from, if any
    shared_steps_id: int | None = None


@dataclass(frozen=True)
class Dataset:
    parameters: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def as_csv_rows(self) -> list[list[str]]:
        return [list(self.parameters), *[list(r) for r in self.rows]]


@dataclass
class TestCaseSteps:
    __test__ = False

    steps: list[TestStep] = field(default_factory=list)
    dataset: Dataset | None = None
    shared_steps_used: list[int] = field(default_factory=list)


def _parse_xml(text: str, what: str) -> StdET.Element:
    try:
        return SafeET.fromstring(text)
    except (StdET.ParseError, DefusedXmlException, ValueError) as exc:
        raise StepsError(f"{what}: not valid XML ({exc.__class__.__name__}: {exc})") from None


def step_text(node: StdET.Element | None) -> str:
    """A parameterizedString as plain text: its HTML rendered to lines when ADO says it is formatted."""
    if node is None:
        return ""
    raw = "".join(node.itertext())
    if node.get("isformatted", "").lower() == "true" or "<" in raw:
        tree = HTMLParser(raw)
        for tag in _BLOCK_TAGS:
            for el in tree.css(tag):
                el.insert_before("\n")
        body = tree.body
        raw = body.text(deep=True, separator="") if body is not None else ""
    lines = [_SPACE.sub(" ", line).strip() for line in raw.replace("\xa0", " ").split("\n")]
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def _xray_params(text: str, names: set[str]) -> str:
    if not names:
        return text
    return re.sub(r"@([A-Za-z_][\w\-]*)", lambda m: f"${{{m.group(1)}}}" if m.group(1) in names else m.group(0), text)


def parse_test_case(
    steps_xml: str | None,
    *,
    shared_steps: Mapping[int, str | None] | None = None,
    parameters_xml: str | None = None,
    data_source_xml: str | None = None,
) -> TestCaseSteps:
    """Ordered steps (shared steps expanded in place) and the dataset; `shared_steps`: Shared Steps work item
    id → its steps XML, for every id the test case references. Raises StepsError with the reason."""
    dataset = parse_dataset(parameters_xml, data_source_xml)
    names = set(dataset.parameters) if dataset else set()
    out = TestCaseSteps(dataset=dataset)
    if steps_xml and steps_xml.strip():
        root = _parse_xml(steps_xml, "the steps")
        _walk(root, out, shared_steps or {}, names, chain=())
    return out


def _walk(
    parent: StdET.Element,
    out: TestCaseSteps,
    shared: Mapping[int, str | None],
    names: set[str],
    chain: tuple[int, ...],
) -> None:
    for node in parent:
        if node.tag == "step":
            strings = node.findall("parameterizedString")
            action = _xray_params(step_text(strings[0] if strings else None), names)
            expected = _xray_params(step_text(strings[1] if len(strings) > 1 else None), names)
            if not action and not expected:
                continue
            if len(action) > STEP_TEXT_LIMIT or len(expected) > STEP_TEXT_LIMIT:
                raise StepsError(f"step {len(out.steps) + 1} is longer than Xray's {STEP_TEXT_LIMIT} characters")
            # Xray needs an action on every step; an expected result alone keeps its place with a stand-in.
            out.steps.append(TestStep(action or "(no action)", expected, chain[-1] if chain else None))
        elif node.tag == "compref":
            ref = node.get("ref", "")
            if not ref.isdigit():
                raise StepsError(f"a shared steps reference has no valid work item id ({ref!r})")
            sid = int(ref)
            if sid in chain or len(chain) >= MAX_SHARED_DEPTH:
                raise StepsError(f"shared steps #{sid} refer back to themselves")
            if sid not in shared or shared[sid] is None:
                raise StepsError(f"shared steps #{sid} were not found in Azure DevOps")
            if sid not in out.shared_steps_used:
                out.shared_steps_used.append(sid)
            shared_root = _parse_xml(shared[sid] or "<steps/>", f"the steps of shared steps #{sid}")
            _walk(shared_root, out, shared, names, (*chain, sid))
            # ADO nests the steps that follow a reference inside it.
            _walk(node, out, shared, names, chain)


def shared_step_ids(steps_xml: str | None) -> list[int]:
    """The Shared Steps work items a test case references, in order, to fetch before parsing."""
    if not steps_xml or not steps_xml.strip():
        return []
    root = _parse_xml(steps_xml, "the steps")
    out: list[int] = []
    for node in root.iter("compref"):
        ref = node.get("ref", "")
        if ref.isdigit() and int(ref) not in out:
            out.append(int(ref))
    return out


def parse_dataset(parameters_xml: str | None, data_source_xml: str | None) -> Dataset | None:
    """ADO's parameters and local data rows as an Xray dataset (None when the test case has no parameters)."""
    if not parameters_xml or not parameters_xml.strip():
        return None
    declared = _parse_xml(parameters_xml, "the parameters")
    names: list[str] = []
    for param in declared.iter("param"):
        name = (param.get("name") or "").strip()
        if name and name not in names:
            names.append(name)
    if not names:
        return None
    rows: list[tuple[str, ...]] = []
    if data_source_xml and data_source_xml.strip().startswith("<"):
        data = _parse_xml(data_source_xml, "the parameter values")
        for table in data:
            if table.tag.endswith("schema"):
                continue
            values = {child.tag: (child.text or "") for child in table}
            rows.append(tuple(values.get(n, "") for n in names))
    return Dataset(tuple(names), tuple(rows))
