"""A small WIQL engine: tokenizer, recursive-descent parser, evaluator over the generated project.

Supported: SELECT <fields> FROM WorkItems [WHERE <expr>] [ORDER BY <field> [ASC|DESC], ...]
with AND / OR / NOT / parentheses; =, <>, <, <=, >, >=, IN, NOT IN, UNDER on the fields the
generator can derive cheaply per id (id, type, state, project, area path, parent, created and
changed dates). Everything else is rejected with the error the real service would give for a
query it cannot run, rather than silently returning wrong rows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from migrayt.sandbox.ado.catalog import FieldDef, find_field
from migrayt.sandbox.generator import GeneratedProject, ItemCore

RESULT_LIMIT = 20_000


class WiqlError(ValueError):
    """A query the service refuses; `code` is the TF/VS code in the message, `type_key` ADO's exception key."""

    def __init__(self, message: str, type_key: str = "WorkItemTrackingQueryInvalidSyntaxException"):
        super().__init__(message)
        self.type_key = type_key


# ---- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<field>\[[^\]]*\])
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op><>|<=|>=|!=|=|<|>)
  | (?P<punct>[(),+\-])
  | (?P<macro>@[A-Za-z_]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # field, string, number, op, punct, macro, word, end
    text: str
    pos: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            raise WiqlError(
                "TF51006: The query statement is missing or contains an unexpected character at position "
                f"{pos}: «{query[pos : pos + 10]}»."
            )
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("end", "", pos))
    return tokens


# ---- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    field: FieldDef
    op: str  # = <> < <= > >= IN NOT IN UNDER NOT UNDER
    values: tuple[Any, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    part: Expr


Expr = Condition | BoolOp | Not


@dataclass(frozen=True)
class OrderKey:
    field: FieldDef
    descending: bool


@dataclass(frozen=True)
class Query:
    columns: tuple[FieldDef, ...]
    where: Expr | None
    order: tuple[OrderKey, ...]


@dataclass(frozen=True)
class DateValue:
    """A WIQL date literal; date-only literals compare at day precision, as ADO does by default."""

    when: datetime
    day_only: bool


class Parser:
    def __init__(self, query: str, project: str, today: datetime):
        self.tokens = tokenize(query)
        self.i = 0
        self.project = project
        self.today = today

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def expect_word(self, *words: str) -> Token:
        if not self.tok.is_word(*words):
            self.fail(f"Expecting {' or '.join(words)}")
        return self.advance()

    def fail(self, what: str) -> None:
        t = self.tok
        near = t.text or "end of query"
        raise WiqlError(
            "TF51006: The query statement is missing or contains an unexpected element. "
            f"{what} at position {t.pos}, near «{near}»."
        )

    def parse(self) -> Query:
        self.expect_word("SELECT")
        columns = [self.field()]
        while self.tok.text == ",":
            self.advance()
            columns.append(self.field())
        self.expect_word("FROM")
        source = self.expect_word("WORKITEMS", "WORKITEMLINKS")
        if source.text.upper() != "WORKITEMS":
            raise WiqlError("The sandbox runs flat queries only (FROM WorkItems).")
        where = None
        if self.tok.is_word("WHERE"):
            self.advance()
            where = self.expr()
        order: list[OrderKey] = []
        if self.tok.is_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            while True:
                f = self.field()
                desc = False
                if self.tok.is_word("ASC", "DESC"):
                    desc = self.advance().text.upper() == "DESC"
                order.append(OrderKey(f, desc))
                if self.tok.text != ",":
                    break
                self.advance()
        if self.tok.is_word("ASOF"):
            raise WiqlError("The sandbox does not run ASOF queries; pass asOf to the work item endpoints instead.")
        if self.tok.kind != "end":
            self.fail("Expecting end of query")
        return Query(tuple(columns), where, tuple(order))

    def field(self) -> FieldDef:
        t = self.tok
        if t.kind == "field":
            name = t.text[1:-1]
        elif t.kind == "word" and t.text.upper() not in _KEYWORDS:
            name = t.text
        else:
            self.fail("Expecting field name")
        self.advance()
        f = find_field(name)
        if f is None:
            raise WiqlError(
                f"TF51005: The query references a field that does not exist. The error is caused by «{name}».",
                "WorkItemTrackingQueryFieldDoesNotExistException",
            )
        return f

    def expr(self) -> Expr:
        parts = [self.term()]
        while self.tok.is_word("OR"):
            self.advance()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def term(self) -> Expr:
        parts = [self.factor()]
        while self.tok.is_word("AND"):
            self.advance()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> Expr:
        if self.tok.is_word("NOT"):
            self.advance()
            return Not(self.factor())
        if self.tok.text == "(":
            self.advance()
            e = self.expr()
            if self.tok.text != ")":
                self.fail("Expecting )")
            self.advance()
            return e
        return self.condition()

    def condition(self) -> Condition:
        f = self.field()
        t = self.tok
        if t.kind == "op":
            op = "<>" if t.text == "!=" else t.text
            self.advance()
            return Condition(f, op, (self.value(f),))
        negate = False
        if t.is_word("NOT"):
            negate = True
            self.advance()
        if self.tok.is_word("IN"):
            self.advance()
            if self.tok.text != "(":
                self.fail("Expecting (")
            self.advance()
            values = [self.value(f)]
            while self.tok.text == ",":
                self.advance()
                values.append(self.value(f))
            if self.tok.text != ")":
                self.fail("Expecting )")
            self.advance()
            return Condition(f, "NOT IN" if negate else "IN", tuple(values))
        if self.tok.is_word("UNDER"):
            self.advance()
            return Condition(f, "NOT UNDER" if negate else "UNDER", (self.value(f),))
        self.fail("Expecting comparison operator")
        raise AssertionError  # unreachable

    def value(self, f: FieldDef) -> Any:
        t = self.advance()
        if t.kind == "macro":
            name = t.text.lower()
            if name == "@project":
                raw: Any = self.project
            elif name == "@today":
                raw = DateValue(self.today, True)
                if self.tok.text in ("+", "-"):
                    sign = 1 if self.advance().text == "+" else -1
                    n = self.advance()
                    if n.kind != "number":
                        self.fail("Expecting number")
                    raw = DateValue(self.today + timedelta(days=sign * int(n.text)), True)
                return raw
            else:
                raise WiqlError(f"TF51011: The macro «{t.text}» is not supported by the sandbox.")
        elif t.kind == "string":
            raw = t.text[1:-1].replace(t.text[0] * 2, t.text[0])
        elif t.kind == "number":
            raw = t.text
        elif t.text == "-" and self.tok.kind == "number":
            raw = "-" + self.advance().text
        else:
            self.i -= 1
            self.fail("Expecting a value")
        return _coerce(f, raw)


_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "UNDER", "ORDER", "BY", "ASC", "DESC", "ASOF"}


def _coerce(f: FieldDef, raw: Any) -> Any:
    if f.type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise WiqlError(f"TF51004: The field «{f.name}» requires an integer value; got «{raw}».") from None
    if f.type == "dateTime":
        if isinstance(raw, DateValue):
            return raw
        text = str(raw).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return DateValue(datetime.fromisoformat(text).replace(tzinfo=UTC), True)
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return DateValue(when if when.tzinfo else when.replace(tzinfo=UTC), False)
        except ValueError:
            raise WiqlError(f"TF51002: The value «{text}» is not a valid date for field «{f.name}».") from None
    return str(raw)


# ---- evaluation ---------------------------------------------------------------------------------

# Fields whose value the generator derives per id without building the item.
_CHEAP = {
    "System.Id",
    "System.WorkItemType",
    "System.State",
    "System.TeamProject",
    "System.ChangedDate",
    "System.CreatedDate",
    "System.AreaPath",
    "System.Parent",
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Evaluator:
    def __init__(self, project: GeneratedProject):
        self.p = project

    def value(self, ref: str, item_id: int, core: Callable[[], ItemCore]) -> Any:
        if ref == "System.Id":
            return item_id
        if ref == "System.TeamProject":
            return self.p.spec.project
        if ref == "System.AreaPath":
            return self.p.area_path_of(item_id)
        c = core()
        return {
            "System.WorkItemType": c.type,
            "System.State": c.state,
            "System.ChangedDate": c.changed,
            "System.CreatedDate": c.created,
            "System.Parent": c.parent_id,
        }[ref]

    def test(self, e: Expr, item_id: int, core: Callable[[], ItemCore]) -> bool:
        if isinstance(e, BoolOp):
            if e.op == "AND":
                return all(self.test(p, item_id, core) for p in e.parts)
            return any(self.test(p, item_id, core) for p in e.parts)
        if isinstance(e, Not):
            return not self.test(e.part, item_id, core)
        v = self.value(e.field.reference_name, item_id, core)
        if e.op in ("IN", "NOT IN"):
            hit = any(_compare(v, "=", x) for x in e.values)
            return hit if e.op == "IN" else not hit
        if e.op in ("UNDER", "NOT UNDER"):
            base = str(e.values[0]).lower()
            s = str(v).lower()
            hit = s == base or s.startswith(base + "\\")
            return hit if e.op == "UNDER" else not hit
        return _compare(v, e.op, e.values[0])


def _compare(v: Any, op: str, x: Any) -> bool:
    if v is None:
        return op == "<>" if x is not None else op == "="
    if isinstance(x, DateValue):
        if x.day_only:
            day = v.date()
            return _CMP[op](day, x.when.date())
        return _CMP[op](v, x.when)
    if isinstance(v, str):
        return _CMP[op](v.lower(), str(x).lower())
    return _CMP[op](v, x)


def _check_supported(e: Expr | None) -> None:
    if e is None:
        return
    if isinstance(e, BoolOp):
        for p in e.parts:
            _check_supported(p)
    elif isinstance(e, Not):
        _check_supported(e.part)
    else:
        if e.field.reference_name not in _CHEAP:
            raise WiqlError(
                f"The sandbox cannot filter on «{e.field.reference_name}»; it filters on {', '.join(sorted(_CHEAP))}."
            )
        if e.op in ("UNDER", "NOT UNDER") and e.field.type != "treePath":
            raise WiqlError(f"TF51007: The operator UNDER cannot be used with field «{e.field.name}».")


def _id_bounds(e: Expr | None, n: int) -> tuple[int, int, set[int] | None]:
    """Narrow the id range from [System.Id] conditions joined by AND at the top, so id-range
    queries on 100k items do not touch every item."""
    lo, hi, only = 1, n, None
    parts: Iterable[Expr] = e.parts if isinstance(e, BoolOp) and e.op == "AND" else ([e] if e else [])
    for p in parts:
        if not isinstance(p, Condition) or p.field.reference_name != "System.Id":
            continue
        x = p.values[0]
        if p.op == "=":
            lo, hi = max(lo, x), min(hi, x)
        elif p.op == ">":
            lo = max(lo, x + 1)
        elif p.op == ">=":
            lo = max(lo, x)
        elif p.op == "<":
            hi = min(hi, x - 1)
        elif p.op == "<=":
            hi = min(hi, x)
        elif p.op == "IN":
            ids = set(p.values)
            only = ids if only is None else only & ids
    return lo, hi, only


def run_query(project: GeneratedProject, text: str, top: int | None, today: datetime) -> tuple[Query, list[int]]:
    q = Parser(text, project.spec.project, today).parse()
    _check_supported(q.where)
    for key in q.order:
        if key.field.reference_name not in _CHEAP:
            raise WiqlError(f"The sandbox cannot sort on «{key.field.reference_name}».")
    ev = Evaluator(project)
    lo, hi, only = _id_bounds(q.where, project.n)
    candidates: Iterable[int] = sorted(i for i in only if lo <= i <= hi) if only is not None else range(lo, hi + 1)
    hits: list[int] = []
    for item_id in candidates:
        if item_id in project.deleted:
            continue

        def core(i: int = item_id) -> ItemCore:
            return project.core(i)

        if q.where is None or ev.test(q.where, item_id, core):
            hits.append(item_id)
    limit = top if top is not None and top <= RESULT_LIMIT else None
    if limit is None and len(hits) > RESULT_LIMIT:
        raise WiqlError(
            f"VS402337: The number of work items returned exceeds the size limits of {RESULT_LIMIT}. "
            "Change the query to return fewer work items.",
            "WorkItemTrackingQueryResultSizeLimitExceededException",
        )
    for key in reversed(q.order or (OrderKey(find_field("System.Id"), False),)):  # type: ignore[arg-type]
        ref = key.field.reference_name
        if ref == "System.Id":
            hits.sort(reverse=key.descending)
        else:

            def sort_key(i: int, r: str = ref) -> tuple:
                return _sort_key(ev.value(r, i, lambda: project.core(i)))

            hits.sort(key=sort_key, reverse=key.descending)
    if limit is not None:
        hits = hits[:limit]
    return q, hits


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (0, "")
    if isinstance(v, str):
        return (1, v.lower())
    return (1, v)
