"""Words, titles and ADO-flavoured HTML for generated work items.

Everything here is a pure function of a `random.Random` passed in, so one item's
text depends only on that item's own RNG (same seed -> same bytes).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field

NOUNS = [
    "login page",
    "checkout flow",
    "search index",
    "billing service",
    "API gateway",
    "audit log",
    "export job",
    "user profile",
    "notification centre",
    "rate limiter",
    "cache layer",
    "dashboard",
    "password reset",
    "session store",
    "report builder",
    "webhook sender",
    "file upload",
    "SSO bridge",
    "mobile onboarding",
    "dark mode",
    "feature flag",
    "payment retry",
    "tenant settings",
    "CSV import",
]
VERBS = [
    "Improve",
    "Refactor",
    "Add",
    "Fix",
    "Harden",
    "Document",
    "Migrate",
    "Speed up",
    "Simplify",
    "Localise",
    "Instrument",
    "Validate",
    "Secure",
    "Redesign",
    "Test",
]
OUTCOMES = [
    "so that customers can finish without support calls",
    "to cut p95 latency below 300 ms",
    "so that admins can audit changes",
    "to unblock the Q3 release",
    "so that mobile users stay signed in",
    "to meet the accessibility audit",
    "so that data exports match the ledger",
]
WORDS = (
    "the a service request timeout retry queue user admin tenant flag release sprint customer error "
    "latency deploy config schema index token cookie header payload cache database migration rollback "
    "metric alert dashboard report build pipeline branch review test fixture staging production"
).split()
TAGS = [
    "backend",
    "frontend",
    "security",
    "performance",
    "tech-debt",
    "ux",
    "customer-reported",
    "needs-design",
    "blocked",
    "quick-win",
    "regression",
    "accessibility",
]
LANGS = ["python", "csharp", "javascript", "sql", "bash"]
CODE = {
    "python": (
        "def retry(fn, attempts=3):\n"
        "    for i in range(attempts):\n"
        "        try:\n"
        "            return fn()\n"
        "        except TimeoutError:\n"
        "            time.sleep(2 ** i)\n"
        '    raise RuntimeError("gave up")'
    ),
    "csharp": (
        "public async Task<Order> GetAsync(int id)\n"
        "{\n"
        "    var order = await _db.Orders.FindAsync(id);\n"
        "    return order ?? throw new NotFoundException(id);\n"
        "}"
    ),
    "javascript": (
        "const total = items.reduce((sum, i) => sum + i.price * i.qty, 0);\n"
        "if (total > limit) {\n"
        "  throw new Error(`over limit: ${total}`);\n"
        "}"
    ),
    "sql": (
        "SELECT t.id, COUNT(*) AS n\n"
        "FROM tenants t JOIN users u ON u.tenant_id = t.id\n"
        "WHERE u.last_login < NOW() - INTERVAL '90 days'\n"
        "GROUP BY t.id HAVING COUNT(*) > 10;"
    ),
    "bash": (
        "kubectl -n phoenix rollout restart deploy/api\nkubectl -n phoenix rollout status deploy/api --timeout=120s"
    ),
}
EMOJI = "🚀🔥✅❌⚠️🐛💡📦🎉👀🧪🔒"
RTL_HE = "שלום עולם, זה טקסט בעברית עם מספרים 123 ו-English באמצע"
RTL_AR = "مرحبا بالعالم، هذا نص باللغة العربية"
CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f"


@dataclass
class HtmlContext:
    """What an item's HTML may point at: people to mention, items to reference, its own images."""

    origin: str
    organization: str
    project: str
    project_guid: str
    mentions: list[tuple[str, str]] = field(default_factory=list)  # (user guid, display name)
    item_refs: list[int] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (attachment guid, file name)


def sentence(rng: random.Random, n: tuple[int, int] = (6, 14)) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(*n))).capitalize() + "."


def title(rng: random.Random, work_item_type: str) -> str:
    noun = rng.choice(NOUNS)
    if work_item_type == "Bug":
        return (
            f"{noun.capitalize()} {rng.choice(['fails', 'crashes', 'hangs', 'shows wrong totals', 'times out'])} "
            f"when {rng.choice(WORDS)} {rng.choice(WORDS)} is {rng.choice(['empty', 'expired', 'missing', 'too long'])}"
        )
    if work_item_type == "User Story":
        return (
            f"As a {rng.choice(['customer', 'tenant admin', 'support agent', 'developer'])}, "
            f"I want the {noun} {rng.choice(OUTCOMES)}"
        )
    if work_item_type == "Test Case":
        return f"Verify {noun} {rng.choice(['happy path', 'with invalid input', 'under load', 'after upgrade'])}"
    if work_item_type == "Issue":
        return (
            f"{rng.choice(['Risk', 'Blocker', 'Question'])}: "
            f"{noun} {rng.choice(['vendor contract', 'capacity', 'ownership', 'licence'])}"
        )
    if work_item_type == "Epic":
        return f"{rng.choice(['Phoenix 2.0', 'Enterprise readiness', 'Self-serve', 'Reliability'])}: {noun}"
    return f"{rng.choice(VERBS)} {noun}"


def _inline(rng: random.Random, ctx: HtmlContext) -> str:
    """A paragraph's worth of inline content: text with the odd mention, #ref, link, bold or code."""
    parts = [html.escape(sentence(rng))]
    roll = rng.random()
    if ctx.mentions and roll < 0.25:
        uid, name = rng.choice(ctx.mentions)
        parts.append(f'<a href="#" data-vss-mention="version:2.0,{uid}">@{html.escape(name)}</a> please take a look.')
    elif ctx.item_refs and roll < 0.45:
        ref = rng.choice(ctx.item_refs)
        if rng.random() < 0.5:
            parts.append(f"See #{ref} for context.")
        else:
            parts.append(
                f'Related to <a href="{ctx.origin}/{ctx.organization}/{ctx.project}/_workitems/edit/{ref}/" '
                f'data-vss-mention="version:1.0">#{ref}</a>.'
            )
    elif roll < 0.6:
        parts.append(f'Docs: <a href="https://docs.example.com/phoenix/{rng.choice(WORDS)}">runbook</a>.')
    elif roll < 0.75:
        parts.append(
            f"<b>{html.escape(rng.choice(WORDS))}</b> must use <code>{rng.choice(WORDS)}_{rng.choice(WORDS)}</code>."
        )
    return " ".join(parts)


def _list(rng: random.Random, ctx: HtmlContext, depth: int = 0) -> str:
    tag = rng.choice(["ul", "ol"])
    items = []
    for _ in range(rng.randint(2, 4)):
        inner = _inline(rng, ctx)
        if depth < 2 and rng.random() < 0.3:
            inner += _list(rng, ctx, depth + 1)
        items.append(f"<li>{inner}</li>")
    return f"<{tag}>{''.join(items)}</{tag}>"


def _table(rng: random.Random) -> str:
    cols = rng.randint(2, 4)
    head = "".join(f"<th>{w.capitalize()}</th>" for w in rng.sample(WORDS, cols))
    rows = "".join(
        "<tr>" + "".join(f"<td>{rng.choice(WORDS)} {rng.randint(1, 999)}</td>" for _ in range(cols)) + "</tr>"
        for _ in range(rng.randint(2, 5))
    )
    return (
        f'<table border="1" style="border-collapse:collapse;"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _code(rng: random.Random) -> str:
    lang = rng.choice(LANGS)
    return f'<pre><code class="language-{lang}">{html.escape(CODE[lang])}</code></pre>'


def image_url(ctx: HtmlContext, guid: str, file_name: str) -> str:
    return f"{ctx.origin}/{ctx.organization}/{ctx.project_guid}/_apis/wit/attachments/{guid}?fileName={file_name}"


def rich_html(rng: random.Random, ctx: HtmlContext, blocks: tuple[int, int] = (2, 6)) -> str:
    """A description-sized HTML body; inline images only point at the item's own attachments."""
    out = []
    images = list(ctx.images)
    for _ in range(rng.randint(*blocks)):
        kind = rng.random()
        if kind < 0.15:
            level = rng.choice([1, 2, 3])
            out.append(f"<h{level}>{html.escape(sentence(rng, (2, 5)))}</h{level}>")
        elif kind < 0.45:
            out.append(f"<div>{_inline(rng, ctx)}</div>")
        elif kind < 0.65:
            out.append(_list(rng, ctx))
        elif kind < 0.75:
            out.append(_table(rng))
        elif kind < 0.85:
            out.append(_code(rng))
        else:
            out.append(f"<p>{_inline(rng, ctx)}<br>{_inline(rng, ctx)}</p>")
    # Every inline-able image of the item appears once, the way pasted screenshots do.
    for guid, name in images:
        pos = rng.randint(0, len(out))
        out.insert(pos, f'<div><img src="{image_url(ctx, guid, name)}" alt="{html.escape(name)}"><br></div>')
    return "".join(out)


def comment_html(rng: random.Random, ctx: HtmlContext) -> str:
    roll = rng.random()
    if roll < 0.6:
        return f"<div>{_inline(rng, ctx)}</div>"
    if roll < 0.8:
        return f"<div>{_inline(rng, ctx)}</div>{_list(rng, ctx)}"
    if roll < 0.9:
        return f"<div>Stack trace:</div>{_code(rng)}"
    return f"<p>{_inline(rng, ctx)}</p>{_table(rng)}"


def steps_xml(rng: random.Random) -> str:
    """Microsoft.VSTS.TCM.Steps as ADO stores it: step text is escaped HTML inside the XML."""
    n = rng.randint(2, 6)
    steps = []
    for i in range(n):
        action = html.escape(f"<DIV><P>{sentence(rng, (3, 8))}</P></DIV>")
        if rng.random() < 0.75:
            expected = html.escape(f"<DIV><P>{sentence(rng, (3, 8))}</P></DIV>")
            kind = "ValidateStep"
        else:
            expected, kind = "", "ActionStep"
        steps.append(
            f'<step id="{i + 2}" type="{kind}"><parameterizedString isformatted="true">{action}</parameterizedString>'
            f'<parameterizedString isformatted="true">{expected}</parameterizedString><description/></step>'
        )
    return f'<steps id="0" last="{n + 1}">{"".join(steps)}</steps>'


def _step(step_id: int, action: str, expected: str) -> str:
    kind = "ValidateStep" if expected else "ActionStep"
    a = html.escape(f"<DIV><P>{html.escape(action)}</P></DIV>")
    e = html.escape(f"<DIV><P>{html.escape(expected)}</P></DIV>") if expected else ""
    return (
        f'<step id="{step_id}" type="{kind}"><parameterizedString isformatted="true">{a}</parameterizedString>'
        f'<parameterizedString isformatted="true">{e}</parameterizedString><description/></step>'
    )


def test_case_steps(
    rng: random.Random, shared_steps_id: int | None, parameters: tuple[str, ...]
) -> tuple[str, list[tuple[str, str]]]:
    """Steps XML with a shared steps reference (ADO nests the steps after it inside the `<compref>`) and `@name`
    parameters, and the test case's own steps as (action, expected) in order, for tests to compare with."""
    own: list[tuple[str, str]] = []
    for i in range(rng.randint(1, 3)):
        action = sentence(rng, (3, 8)).rstrip(".")
        if i == 0 and parameters:
            action += " as " + " with ".join(f"@{p}" for p in parameters)
        own.append((action, sentence(rng, (3, 8)) if rng.random() < 0.75 else ""))
    after = [(sentence(rng, (3, 6)).rstrip("."), sentence(rng, (3, 6)))] if shared_steps_id is not None else []
    next_id = 2
    parts = []
    for action, expected in own:
        parts.append(_step(next_id, action, expected))
        next_id += 1
    if shared_steps_id is not None:
        inner = "".join(_step(next_id + 1 + k, a, e) for k, (a, e) in enumerate(after))
        parts.append(f'<compref id="{next_id}" ref="{shared_steps_id}">{inner}</compref>')
        next_id += 1 + len(after)
    return f'<steps id="0" last="{next_id - 1}">{"".join(parts)}</steps>', [*own, *after]


def parameters_xml(names: tuple[str, ...]) -> str:
    return "<parameters>" + "".join(f'<param name="{n}" bind="default" />' for n in names) + "</parameters>"


def data_source_xml(names: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """ADO's local data source: a .NET DataSet with one `Table1` per row."""
    schema = (
        '<xs:schema id="NewDataSet" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:msdata="urn:schemas-microsoft-com:xml-msdata"><xs:element name="NewDataSet" msdata:IsDataSet="true">'
        '<xs:complexType><xs:choice minOccurs="0" maxOccurs="unbounded"><xs:element name="Table1"><xs:complexType>'
        "<xs:sequence>"
        + "".join(f'<xs:element name="{n}" type="xs:string" minOccurs="0" />' for n in names)
        + "</xs:sequence></xs:complexType></xs:element></xs:choice></xs:complexType></xs:element></xs:schema>"
    )
    body = "".join(
        "<Table1>" + "".join(f"<{n}>{html.escape(v)}</{n}>" for n, v in zip(names, row, strict=True)) + "</Table1>"
        for row in rows
    )
    return f"<NewDataSet>{schema}{body}</NewDataSet>"


def broken_html(rng: random.Random, ctx: HtmlContext) -> str:
    return (
        "<div><b>Unclosed bold <i>and italic</b> crossing</i>"
        "<table><tr><td>cell without end<td>another"
        "<ul><li>item one<li>item two</ul></p></span>"
        "<p>Entity soup: &nbsp &amp; &lt;tag&gt; &bogus; &#xZZ;</p>"
        '<img src="x" onerror="alert(1)"><a href="javascript:void(0)">click'
        f"<div>{_inline(rng, ctx)}<!-- unterminated comment"
    )


def long_html(rng: random.Random, ctx: HtmlContext, min_chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < min_chars:
        chunk = rich_html(
            rng,
            HtmlContext(ctx.origin, ctx.organization, ctx.project, ctx.project_guid, ctx.mentions, ctx.item_refs),
            (4, 8),
        )
        parts.append(chunk)
        size += len(chunk)
    return "".join(parts)


def emoji_rtl_html(rng: random.Random) -> str:
    return (
        f"<div>{EMOJI} Release party {rng.choice(EMOJI)}</div>"
        f'<div dir="rtl">{RTL_HE}</div><div dir="rtl">{RTL_AR}</div>'
        "<p>Mixed: abc \u202edesrever\u202c def, ZWJ family 👨‍👩‍👧‍👦, flags 🇮🇱🇸🇦, combining é</p>"
    )
