"""The part of JQL a migration needs: a tokenizer, a recursive-descent parser and a compiler to predicates.

Grammar (case-insensitive keywords):
    query   := [expr] [ORDER BY sort ("," sort)*]
    expr    := term (OR term)*
    term    := factor (AND factor)*
    factor  := NOT factor | "(" expr ")" | clause
    clause  := field op operand
    op      := = | != | IN | NOT IN | IS | IS NOT | > | >= | < | <=
    operand := value | "(" value ("," value)* ")" | EMPTY | NULL
    sort    := field [ASC | DESC]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


class JqlError(ValueError):
    """A query Jira would reject with 400; the message is what Jira puts in `errorMessages`."""


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, OP, LPAREN, RPAREN, COMMA, EOF
    text: str
    pos: int


_OPERATOR_CHARS = "=!<>~"
_WORD_STOP = set(" \t\r\n(),\"'=!<>~")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token("LPAREN", ch, i))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", ch, i))
            i += 1
        elif ch == ",":
            tokens.append(Token("COMMA", ch, i))
            i += 1
        elif ch in "\"'":
            start, i = i, i + 1
            buf: list[str] = []
            while i < n and text[i] != ch:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise JqlError(
                    f"Error in the JQL Query: The quoted string starting at character {start} is not closed."
                )
            i += 1
            tokens.append(Token("STRING", "".join(buf), start))
        elif ch in _OPERATOR_CHARS:
            start = i
            two = text[i : i + 2]
            if two in ("!=", ">=", "<=", "!~"):
                tokens.append(Token("OP", two, start))
                i += 2
            elif ch == "!":
                raise JqlError(f"Error in the JQL Query: The character '!' at position {start} is not valid.")
            else:
                tokens.append(Token("OP", ch, start))
                i += 1
        else:
            start = i
            while i < n and text[i] not in _WORD_STOP:
                i += 1
            tokens.append(Token("WORD", text[start:i], start))
    tokens.append(Token("EOF", "", n))
    return tokens


# --- syntax tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    field: str  # canonical field name
    op: str  # =, !=, in, not in, is, is not, >, >=, <, <=, ~, !~
    values: tuple[str, ...]  # empty for EMPTY/NULL


@dataclass(frozen=True)
class And:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    part: Any


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    where: Any | None
    order_by: tuple[Sort, ...]


_FIELD_ALIASES = {
    "project": "project",
    "labels": "labels",
    "label": "labels",
    "key": "key",
    "issuekey": "key",
    "issue": "key",
    "id": "key",
    "issuetype": "issuetype",
    "type": "issuetype",
    "parent": "parent",
    "status": "status",
    "created": "created",
    "createddate": "created",
    "updated": "updated",
    "updateddate": "updated",
    "sprint": "sprint",
    "component": "component",
    "summary": "summary",
}
_SORT_FIELDS = {"key", "created", "updated", "issuetype", "status", "project", "summary"}
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


class _Parser:
    def __init__(self, text: str, custom: Mapping[str, str]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.custom = custom

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "WORD" and tok.text.lower() in words

    def expect_word(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "WORD" or tok.text.lower() != word:
            raise JqlError(
                f"Error in the JQL Query: Expecting '{word.upper()}' but got '{tok.text}'. "
                f"(line 1, character {tok.pos + 1})"
            )

    def parse(self) -> Query:
        where = None
        if not (self.peek().kind == "EOF" or self.at_word("order")):
            where = self.expr()
        order: list[Sort] = []
        if self.at_word("order"):
            self.next()
            self.expect_word("by")
            while True:
                tok = self.next()
                if tok.kind not in ("WORD", "STRING"):
                    raise JqlError(
                        f"Error in the JQL Query: Expecting a field name but got '{tok.text}'. "
                        f"(line 1, character {tok.pos + 1})"
                    )
                name = _FIELD_ALIASES.get(tok.text.lower())
                if name is None or name not in _SORT_FIELDS:
                    raise JqlError(f"Field '{tok.text}' does not exist or you do not have permission to view it.")
                descending = False
                if self.at_word("asc", "desc"):
                    descending = self.next().text.lower() == "desc"
                order.append(Sort(name, descending))
                if self.peek().kind != "COMMA":
                    break
                self.next()
        tok = self.peek()
        if tok.kind != "EOF":
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{tok.text}'. "
                f"(line 1, character {tok.pos + 1})"
            )
        return Query(where, tuple(order))

    def expr(self) -> Any:
        parts = [self.term()]
        while self.at_word("or"):
            self.next()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> Any:
        parts = [self.factor()]
        while self.at_word("and"):
            self.next()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Any:
        if self.at_word("not"):
            self.next()
            return Not(self.factor())
        if self.peek().kind == "LPAREN":
            self.next()
            inner = self.expr()
            tok = self.next()
            if tok.kind != "RPAREN":
                raise JqlError(
                    f"Error in the JQL Query: Expecting ')' but got '{tok.text}'. (line 1, character {tok.pos + 1})"
                )
            return inner
        return self.clause()

    def clause(self) -> Clause:
        tok = self.next()
        if tok.kind not in ("WORD", "STRING") or (tok.kind == "WORD" and tok.text.lower() in _KEYWORDS):
            where = "the end of the query" if tok.kind == "EOF" else f"'{tok.text}'"
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got {where}. (line 1, character {tok.pos + 1})"
            )
        field = _FIELD_ALIASES.get(tok.text.lower()) or self.custom.get(tok.text.lower())
        if field is None:
            raise JqlError(f"Field '{tok.text}' does not exist or you do not have permission to view it.")
        op = self.operator()
        if op in ("is", "is not"):
            if not self.at_word("empty", "null"):
                bad = self.peek()
                raise JqlError(
                    f"Error in the JQL Query: Expecting 'EMPTY' or 'NULL' but got '{bad.text}'. "
                    f"(line 1, character {bad.pos + 1})"
                )
            self.next()
            return Clause(field, op, ())
        if op in ("in", "not in"):
            return Clause(field, op, self.value_list())
        return Clause(field, op, (self.value(),))

    def operator(self) -> str:
        tok = self.next()
        if tok.kind == "OP":
            return tok.text
        if tok.kind == "WORD":
            word = tok.text.lower()
            if word == "in":
                return "in"
            if word == "is":
                if self.at_word("not"):
                    self.next()
                    return "is not"
                return "is"
            if word == "not" and self.at_word("in"):
                self.next()
                return "not in"
        where = "the end of the query" if tok.kind == "EOF" else f"'{tok.text}'"
        raise JqlError(f"Error in the JQL Query: Expecting operator but got {where}. (line 1, character {tok.pos + 1})")

    def value(self) -> str:
        tok = self.next()
        if tok.kind == "STRING" or (tok.kind == "WORD" and tok.text.lower() not in ("and", "or", "order")):
            return tok.text
        where = "the end of the query" if tok.kind == "EOF" else f"'{tok.text}'"
        raise JqlError(
            f"Error in the JQL Query: Expecting either a value, list or function but got {where}. "
            f"(line 1, character {tok.pos + 1})"
        )

    def value_list(self) -> tuple[str, ...]:
        tok = self.next()
        if tok.kind != "LPAREN":
            raise JqlError(
                f"Error in the JQL Query: Expecting '(' but got '{tok.text}'. (line 1, character {tok.pos + 1})"
            )
        values = [self.value()]
        while self.peek().kind == "COMMA":
            self.next()
            values.append(self.value())
        tok = self.next()
        if tok.kind != "RPAREN":
            raise JqlError(
                f"Error in the JQL Query: Expecting ')' but got '{tok.text}'. (line 1, character {tok.pos + 1})"
            )
        return tuple(values)


def parse(text: str, custom: Mapping[str, str] | None = None) -> Query:
    """`custom`: the site's custom fields by JQL name in lower case (`cf[10050]`, their name) → field id."""
    return _Parser(text or "", custom or {}).parse()


# --- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueView:
    """What the search index knows about an issue (a snapshot taken at the issue's last write)."""

    id: int
    key: str
    number: int
    project_key: str
    labels: frozenset[str]
    type_id: str
    status_id: str
    parent_id: int | None
    sprint_ids: frozenset[int]
    component_ids: frozenset[str]
    summary: str
    created: float
    updated: float
    # custom field id → searchable value (seconds for a datetime, a float for a number, else text)
    custom: Mapping[str, Any] = field(default_factory=dict)


class Resolver(Protocol):
    """How values in a query map to ids; raises JqlError for values Jira would call unknown."""

    def project(self, value: str) -> str: ...
    def issue_id(self, value: str, field: str) -> int | None: ...
    def issue_type(self, value: str) -> str: ...
    def status(self, value: str) -> str: ...
    def component(self, value: str) -> str: ...
    def custom_kind(self, field_id: str) -> str: ...


Predicate = Callable[[IssueView], bool]


def _parse_time(value: str) -> float:
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{value}' for field 'created' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'."
    )


def compile_where(node: Any, r: Resolver) -> Predicate:
    if isinstance(node, And):
        preds = [compile_where(p, r) for p in node.parts]
        return lambda v: all(p(v) for p in preds)
    if isinstance(node, Or):
        preds = [compile_where(p, r) for p in node.parts]
        return lambda v: any(p(v) for p in preds)
    if isinstance(node, Not):
        pred = compile_where(node.part, r)
        return lambda v: not pred(v)
    return _compile_clause(node, r)


def _compile_custom(c: Clause, r: Resolver) -> Predicate:
    """A clause on a custom field: EMPTY, comparisons for dates and numbers, ~ for text, = for the rest."""
    f, op, kind = c.field, c.op, r.custom_kind(c.field)
    if op in ("is", "is not"):
        return (lambda v: f not in v.custom) if op == "is" else (lambda v: f in v.custom)
    if op in ("~", "!~"):
        if kind != "text":
            raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
        needle = c.values[0].lower()
        contains: Predicate = lambda v: needle in str(v.custom.get(f, "")).lower()  # noqa: E731
        return contains if op == "~" else (lambda v: f in v.custom and not contains(v))
    if kind == "text" or (kind == "url" and op not in ("=", "!=", "in", "not in")):
        raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")

    def bound(value: str) -> Any:
        if kind == "datetime":
            return _parse_time(value)
        if kind == "number":
            try:
                return float(value)
            except ValueError as exc:
                raise JqlError(f"The value '{value}' is not a valid number for the field '{f}'.") from exc
        return value

    values = [bound(x) for x in c.values]
    if op in (">", ">=", "<", "<="):
        if kind not in ("datetime", "number"):
            raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
        cmp = {
            ">": lambda a: a > values[0],
            ">=": lambda a: a >= values[0],
            "<": lambda a: a < values[0],
            "<=": lambda a: a <= values[0],
        }[op]
        return lambda v: f in v.custom and cmp(v.custom[f])
    if kind == "datetime":
        minutes = {int(x // 60) for x in values}
        pos: Predicate = lambda v: f in v.custom and int(v.custom[f] // 60) in minutes  # noqa: E731
    else:
        pos = lambda v: f in v.custom and v.custom[f] in values  # noqa: E731
    return (lambda v: f in v.custom and not pos(v)) if op in ("!=", "not in") else pos


def _compile_clause(c: Clause, r: Resolver) -> Predicate:
    f, op = c.field, c.op
    if f.startswith("customfield_"):
        return _compile_custom(c, r)
    if op in ("is", "is not"):
        empty: Predicate
        if f == "labels":
            empty = lambda v: not v.labels  # noqa: E731
        elif f == "parent":
            empty = lambda v: v.parent_id is None  # noqa: E731
        elif f == "sprint":
            empty = lambda v: not v.sprint_ids  # noqa: E731
        elif f == "component":
            empty = lambda v: not v.component_ids  # noqa: E731
        else:
            raise JqlError(f"The field '{f}' does not support searching for EMPTY values.")
        return empty if op == "is" else (lambda v: not empty(v))

    if op in (">", ">=", "<", "<="):
        if f not in ("created", "updated"):
            raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
        bound = _parse_time(c.values[0])
        attr = f
        cmp = {
            ">": lambda a: a > bound,
            ">=": lambda a: a >= bound,
            "<": lambda a: a < bound,
            "<=": lambda a: a <= bound,
        }[op]
        return lambda v: cmp(getattr(v, attr))

    if op in ("~", "!~"):
        if f != "summary":
            raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
        needle = c.values[0].lower()
        contains: Predicate = lambda v: needle in v.summary.lower()  # noqa: E731
        return contains if op == "~" else (lambda v: not contains(v))

    negate = op in ("!=", "not in")
    if op not in ("=", "!=", "in", "not in"):
        raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
    pos: Predicate
    if f == "labels":
        wanted = frozenset(c.values)
        pos = lambda v: not wanted.isdisjoint(v.labels)  # noqa: E731
    elif f == "project":
        keys = frozenset(r.project(x) for x in c.values)
        pos = lambda v: v.project_key in keys  # noqa: E731
    elif f == "key":
        ids = frozenset(i for i in (r.issue_id(x, "key") for x in c.values) if i is not None)
        pos = lambda v: v.id in ids  # noqa: E731
    elif f == "parent":
        ids = frozenset(i for i in (r.issue_id(x, "parent") for x in c.values) if i is not None)
        pos = lambda v: v.parent_id in ids  # noqa: E731
    elif f == "issuetype":
        types = frozenset(r.issue_type(x) for x in c.values)
        pos = lambda v: v.type_id in types  # noqa: E731
    elif f == "status":
        statuses = frozenset(r.status(x) for x in c.values)
        pos = lambda v: v.status_id in statuses  # noqa: E731
    elif f == "sprint":
        try:
            sprints = frozenset(int(x) for x in c.values)
        except ValueError as exc:
            raise JqlError(f"Sprint with name '{c.values[0]}' does not exist.") from exc
        pos = lambda v: not sprints.isdisjoint(v.sprint_ids)  # noqa: E731
    elif f == "component":
        comps = frozenset(r.component(x) for x in c.values)
        pos = lambda v: not comps.isdisjoint(v.component_ids)  # noqa: E731
    elif f in ("created", "updated"):
        when = _parse_time(c.values[0])
        attr = f
        pos = lambda v: int(getattr(v, attr) // 60) == int(when // 60)  # noqa: E731
    else:  # summary = x is not allowed in Jira either
        raise JqlError(f"The operator '{op}' is not supported by the '{f}' field.")
    return (lambda v: not pos(v)) if negate else pos


def narrowing(node: Any) -> list[tuple[str, tuple[str, ...]]] | None:
    """Clauses that every match must satisfy and that an index can answer (labels, key, parent).

    Returns a list of (field, values) to intersect, or None when the query needs a full scan.
    """
    if isinstance(node, Clause):
        if node.field in ("labels", "key", "parent") and node.op in ("=", "in"):
            return [(node.field, node.values)]
        return None
    if isinstance(node, And):
        found: list[tuple[str, tuple[str, ...]]] = []
        for part in node.parts:
            sub = narrowing(part)
            if sub:
                found.extend(sub)
        return found or None
    return None


def sort_key(order: tuple[Sort, ...]) -> Callable[[IssueView], tuple]:
    """Issues sorted by the ORDER BY fields; id breaks ties so paging is stable."""
    if not order:
        order = (Sort("created", True),)

    def key(v: IssueView) -> tuple:
        parts: list[Any] = []
        for s in order:
            if s.field == "key":
                val: Any = (v.project_key, v.number)
            elif s.field in ("created", "updated"):
                val = getattr(v, s.field)
            elif s.field == "summary":
                val = v.summary.lower()
            elif s.field == "issuetype":
                val = v.type_id
            elif s.field == "status":
                val = v.status_id
            else:
                val = v.project_key
            parts.append(_Desc(val) if s.descending else val)
        parts.append(_Desc(v.id) if order[0].descending else v.id)
        return tuple(parts)

    return key


class _Desc:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return other.v < self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.v == self.v
