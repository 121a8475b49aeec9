"""Does Jira hold the generated project's content exactly? Attachments by sha-256, comments in order
with their attribution, the revision history and truncated originals as files, no image that
still points at the ADO server, `@` mentions of the mapped people and `#N` references as Jira
keys — read from the sandbox's `/_sandbox/state/issues` and, for the raw ADF the state flattens
to text, from Jira's own REST answers."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from migrayt.connectors.adf import adf_to_text, work_item_refs
from migrayt.plugins.xray import steps_file_name
from migrayt.sandbox.generator import GeneratedProject
from migrayt.sandbox.server import SandboxServer
from migrayt.translation.content_text import (
    DESCRIPTION_FIELDS,
    comment_marker,
    description_file_name,
    history_file_name,
    image_sources,
    overflow_file_name,
    sanitise_filename,
)
from migrayt.translation.test_steps import STEPS_TABLE_HEADING
from migrayt.translation.validation_rules import CUT_NOTE

_ADO_ATTACHMENT = re.compile(r"/_apis/wit/attachments/", re.I)
_JIRA_CONTENT = re.compile(r"/rest/api/3/attachment/content/(\d+)")
_ADO_MENTION = re.compile(r'data-vss-mention="version:2\.0,[^"]*">@([^<]+)</a>')


@dataclass
class ContentReport:
    checked_items: int = 0
    attachments_expected: int = 0
    attachments_found: int = 0
    comments_expected: int = 0
    comments_found: int = 0
    worklogs_expected: int = 0
    worklogs_found: int = 0
    inline_images: int = 0
    mentions: int = 0  # became Jira mentions
    references: int = 0  # #N of a migrated item, now its Jira key
    # Over Jira's size limit: must be absent (the run reports them failed with the reason).
    over_limit: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.problems.append(message)


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for child in node.get("content") or ():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _urls(doc: Any) -> list[tuple[str, str]]:
    """(node kind, url) of every URL an ADF document carries: media, cards, link marks."""
    out = []
    for node in _walk(doc):
        attrs = node.get("attrs") or {}
        if node.get("type") in ("media", "inlineCard", "blockCard", "embedCard") and attrs.get("url"):
            out.append((node["type"], str(attrs["url"])))
        for mark in node.get("marks") or ():
            href = (mark.get("attrs") or {}).get("href")
            if mark.get("type") == "link" and href:
                out.append(("link", str(href)))
    return out


def _when(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


async def check_content(
    server: SandboxServer,
    jira_issues: list[dict],
    *,
    attachment_limit: int = 10 * 1024 * 1024,
    comment_cap: int = 5000,
    worklog_cap: int = 5000,
    worklogs: bool = True,
) -> ContentReport:
    """`worklogs`: the 7pace plugin ran, so every work log of a migrated item is a worklog on its issue (up to
    `worklog_cap`, the rest in one attached file)."""
    project: GeneratedProject = server.sandbox.project
    report = ContentReport()
    by_ado: dict[int, dict] = {}
    for issue in jira_issues:
        for label in issue.get("labels") or ():
            if label.startswith("ado-id-"):
                by_ado[int(label[len("ado-id-") :])] = issue
    ado_root = server.ado_root.rstrip("/")
    ugly = project.ugly_cases()
    auth = (server.sandbox.jira_email, server.sandbox.jira_token)
    async with httpx.AsyncClient(base_url=server.jira_url, auth=auth, timeout=60) as jira:
        names_by_account: dict[str, str] = {}

        async def account_name(account_id: str) -> str:
            if account_id not in names_by_account:
                r = await jira.get("/rest/api/3/user", params={"accountId": account_id})
                names_by_account[account_id] = (
                    r.json().get("displayName", "?") if r.status_code == 200 else "(no such account)"
                )
            return names_by_account[account_id]

        async def check_people_and_refs(where: str, source: str, doc: Any) -> None:
            """`@Name` → a mention of the account whose name it is (or the plain name); `#N` → N's key."""
            text = adf_to_text(doc)
            mentions = [n.get("attrs") or {} for n in _walk(doc) if n.get("type") == "mention"]
            for attrs in mentions:
                if attrs.get("text") != f"@{await account_name(str(attrs.get('id')))}":
                    report.add(f"{where}: mention {attrs} is not the account of that person")
            report.mentions += len(mentions)
            mentioned = {attrs.get("text") for attrs in mentions}
            for name in (html.unescape(m) for m in _ADO_MENTION.findall(source)):
                if f"@{name}" not in mentioned and f"@{name}" not in text:
                    report.add(f"{where}: @{name} is neither a mention nor a name")
            for ref in sorted(work_item_refs(source)):
                target = by_ado.get(ref)
                if target is None:
                    continue  # not migrated: the reference stays as written
                if target["key"] not in text:
                    report.add(f"{where}: #{ref} does not show {target['key']}")
                else:
                    report.references += 1

        for ado_id in project.item_ids():
            issue = by_ado.get(ado_id)
            if issue is None:
                continue  # not created: the structural checker reports that
            report.checked_items += 1
            key = issue["key"]
            rest = (await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "description,attachment"})).json()
            raw_comments = (await jira.get(f"/rest/api/3/issue/{key}/comment", params={"maxResults": 5000})).json()[
                "comments"
            ]
            jira_ids = {str(a["id"]) for a in rest["fields"].get("attachment") or []}
            files = Counter((a["filename"], a["sha256"]) for a in issue["attachments"])
            names = Counter(a["filename"] for a in issue["attachments"])

            # --- attached files, by content
            # The comments past the cap: part 1 under the single file's name, parts 2..n numbered.
            part_name = re.compile(rf"ado-{ado_id}-comments-overflow(?:-(\d+))?\.html")
            overflow_parts = {int(m.group(1) or 1): name for name in names if (m := part_name.fullmatch(name))}
            expected_names = {history_file_name(ado_id), description_file_name(ado_id), *overflow_parts.values()}
            for att in project.attachments(ado_id):
                name = sanitise_filename(att.file_name)
                expected_names.add(name)
                found = files.get((name, project.attachment_sha256(att.guid)), 0)
                if att.size > attachment_limit:
                    report.over_limit.append((ado_id, att.guid))
                    if names.get(name):
                        report.add(f"{key} (ADO #{ado_id}): {name} is over Jira's limit but is attached")
                    continue
                report.attachments_expected += 1
                if found == 0:
                    report.add(
                        f"{key} (ADO #{ado_id}): attachment {name} ({att.size} bytes) missing or its content differs"
                    )
                else:
                    report.attachments_found += 1
            for (name, _sha), n in files.items():
                if n > 1:
                    report.add(f"{key} (ADO #{ado_id}): {name} attached {n} times")
            if names.get(history_file_name(ado_id)) != 1:
                report.add(
                    f"{key} (ADO #{ado_id}): revision history file attached "
                    f"{names.get(history_file_name(ado_id), 0)} times"
                )

            # --- description: images re-hosted, nothing left on ADO, truncated original attached
            description = rest["fields"].get("description")
            source_html = "\n".join(
                str(v) for f in DESCRIPTION_FIELDS if (v := project.work_item(ado_id).fields.get(f))
            )
            truncated = "Description cut at" in (issue.get("description") or "")
            if truncated or ugly.get("long_description") == ado_id:
                if not truncated:
                    report.add(f"{key} (ADO #{ado_id}): the 40k description was not cut with a note")
                if names.get(description_file_name(ado_id)) != 1:
                    report.add(
                        f"{key} (ADO #{ado_id}): truncated description has "
                        f"{names.get(description_file_name(ado_id), 0)} original files"
                    )
            elif names.get(description_file_name(ado_id)):
                report.add(f"{key} (ADO #{ado_id}): an original description file for an uncut description")
            # --- a test case's steps without Xray: a table in the description, or (too long) a file it names
            steps_name = steps_file_name(ado_id)
            if steps_name in (issue.get("description") or ""):
                expected_names.add(steps_name)
                if names.get(steps_name) != 1:
                    report.add(f"{key} (ADO #{ado_id}): the steps file is attached {names.get(steps_name, 0)} times")
                if truncated and CUT_NOTE not in (issue.get("description") or "").split(STEPS_TABLE_HEADING)[0]:
                    report.add(f"{key} (ADO #{ado_id}): the steps note pushed out the description's cut note")
            elif names.get(steps_name) and STEPS_TABLE_HEADING not in (issue.get("description") or ""):
                expected_names.add(steps_name)  # a whole description with no room for the note keeps its text
            ado_images = [src for src, _ in image_sources(source_html) if _ADO_ATTACHMENT.search(src)]
            media = [url for kind, url in _urls(description) if kind == "media"]
            if not truncated and len(media) != len(ado_images):
                report.add(f"{key} (ADO #{ado_id}): {len(ado_images)} inline images in ADO, {len(media)} in Jira")
            report.inline_images += len(media)
            if not truncated:
                await check_people_and_refs(f"{key} description", source_html, description)
            docs = [("description", description)] + [(f"comment {c['id']}", c.get("body")) for c in raw_comments]
            for where, doc in docs:
                for kind, url in _urls(doc):
                    if url.startswith(ado_root) or "dev.azure.com" in url or _ADO_ATTACHMENT.search(url):
                        if kind == "media" or _ADO_ATTACHMENT.search(url):
                            report.add(f"{key} {where}: image still points at ADO: {url}")
                    if kind == "media":
                        m = _JIRA_CONTENT.search(url)
                        if not m or m.group(1) not in jira_ids:
                            report.add(f"{key} {where}: image is not one of the issue's attachments: {url}")

            # --- comments: in order, attributed, each once; the rest in the overflow parts, in order
            expected = project.comments(ado_id)
            posted, overflow = expected[:comment_cap], expected[comment_cap:]
            report.comments_expected += len(posted)
            got = issue["comments"]
            markers = []
            for c in got:
                m = re.search(r"Azure DevOps comment id (\d+)", c["body"])
                markers.append(int(m.group(1)) if m else None)
            dupes = [m for m, n in Counter(markers).items() if m is not None and n > 1]
            if dupes:
                report.add(f"{key} (ADO #{ado_id}): comments posted more than once: {sorted(dupes)[:10]}")
            if markers != [c.id for c in posted]:
                report.add(
                    f"{key} (ADO #{ado_id}): comments {markers[:8]}... differ from ADO order "
                    f"{[c.id for c in posted][:8]}..."
                )
            else:
                report.comments_found += len(got)
                raw_by_marker = {
                    int(m.group(1)): c.get("body")
                    for c in raw_comments
                    if (m := re.search(r"Azure DevOps comment id (\d+)", adf_to_text(c.get("body"))))
                }
                for c in posted:
                    body = raw_by_marker.get(c.id)
                    if body is not None and "Comment cut at" not in adf_to_text(body):
                        await check_people_and_refs(f"{key} comment {c.id}", c.text, body)
                for c, jc in zip(posted, got, strict=True):
                    header = (
                        f"{project.user(c.author_id).display_name} commented on {_when(c.created)} "
                        f"({comment_marker(c.id)})"
                    )
                    if not jc["body"].startswith(header):
                        report.add(f"{key} comment {c.id}: header {jc['body'][:120]!r} lacks {header!r}")
                        break
            if overflow:
                numbers = sorted(overflow_parts)
                if numbers != list(range(1, len(numbers) + 1)) or overflow_parts.get(1) != overflow_file_name(ado_id):
                    report.add(
                        f"{key} (ADO #{ado_id}): {len(overflow)} comments over the cap but overflow parts {numbers}"
                    )
                elif any(names[overflow_parts[k]] != 1 for k in numbers):
                    report.add(f"{key} (ADO #{ado_id}): an overflow part is attached more than once")
                else:
                    kept = []
                    contents = {a["filename"]: a["content"] for a in rest["fields"].get("attachment") or []}
                    for k in numbers:
                        page = (await jira.get(contents[overflow_parts[k]], follow_redirects=True)).text
                        kept += [int(m) for m in re.findall(r"Azure DevOps comment id (\d+)", page)]
                    if kept != [c.id for c in overflow]:
                        report.add(
                            f"{key} (ADO #{ado_id}): the overflow parts hold {len(kept)} comments, not the "
                            f"{len(overflow)} past the cap in ADO order"
                        )
            elif overflow_parts:
                report.add(f"{key} (ADO #{ado_id}): overflow file without overflow")
            # --- the 7pace plugin: each work log once, the seconds per issue the source's
            logs = project.worklogs(ado_id) if worklogs else []
            kept, past = logs[:worklog_cap], logs[worklog_cap:]
            report.worklogs_expected += len(kept)
            ours = Counter(
                (w["properties"]["migrayt.source"]["worklog"], w["seconds"])
                for w in issue.get("worklogs") or []
                if "migrayt.source" in (w.get("properties") or {})
            )
            report.worklogs_found += sum(ours.values())
            if ours != Counter((w.id, w.length_seconds) for w in kept):
                report.add(
                    f"{key} (ADO #{ado_id}): worklogs {sorted(ours.items())} are not the 7pace work logs "
                    f"{[(w.id, w.length_seconds) for w in kept]}"
                )
            if past:
                expected_names.add(f"ado-{ado_id}-7pace-worklogs-over-cap.txt")
                if names.get(f"ado-{ado_id}-7pace-worklogs-over-cap.txt") != 1:
                    report.add(f"{key} (ADO #{ado_id}): the work logs past the cap are not attached once")
            for name in names:
                if (
                    name not in expected_names
                    and not name.startswith(f"ado-{ado_id}-comment-")
                    and not name.startswith("image-")
                ):
                    report.add(f"{key} (ADO #{ado_id}): unexpected file {name}")
    return report
