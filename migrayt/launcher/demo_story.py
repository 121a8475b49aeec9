"""What `migrayt demo` tells around its runs: the failures the sandbox planted and why, each failure of the run
by its ADO item (or user) and reason, what to do next, the fix the demo makes, and which links die with it.

The planted cases come from the generated project itself (`GeneratedProject.ugly_cases()` and its special users),
so the story names the same items and people the run fails on; a failure the story did not expect is said too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape

# Names for annotations only: `migrayt --help` imports this module and stays quick.
if TYPE_CHECKING:
    from migrayt.core.item_records_view import ReasonGroup, RecordLine
    from migrayt.sandbox.generator import GeneratedProject
    from migrayt.sandbox.generator.models import GeneratedUser

# The file size limit the demo sets on the sandbox Jira as its fix: what a Jira administrator raises it to.
RAISED_UPLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True)
class PlantedUser:
    display_name: str
    unique: str  # the key the run's user record and the plan's user table use (lower-case)
    why: str
    item: int | None


@dataclass(frozen=True)
class PlantedFile:
    name: str
    item: int
    size: int


@dataclass(frozen=True)
class Planted:
    users: list[PlantedUser]
    files: list[PlantedFile]
    upload_limit: int

    @property
    def count(self) -> int:
        return len(self.users) + len(self.files)

    def expects(self, failure: RecordLine) -> bool:
        if failure.kind == "user":
            return failure.source_key in {u.unique for u in self.users}
        return failure.ado_id in {f.item for f in self.files} and any(f.name in failure.what for f in self.files)


def _why(user: GeneratedUser) -> tuple[str, str]:
    """(the generator's case that puts this user on an item, why Jira has no account to match)."""
    if not user.in_jira:
        return "ado_only_user", "works in ADO only: no Jira account"
    if user.deleted:
        return "deleted_user", "has left: the Jira account is deactivated"
    if "\\svc-" in user.unique_name.lower():
        return "no_email_user", "a build service account: no e-mail to match by"
    return "no_email_user", "a local machine account: no e-mail to match by"


def planted(project: GeneratedProject, upload_limit: int) -> Planted:
    """The users with no Jira account to match and the files over the site's limit the generator put in."""
    cases = project.ugly_cases()
    users = []
    for user in project.users:
        if user.in_jira and not user.deleted and user.email:
            continue
        case, why = _why(user)
        users.append(
            PlantedUser(
                display_name=user.display_name,
                unique=(user.unique_name or user.email or "").lower(),
                why=why,
                item=cases.get(case),
            )
        )
    files = []
    big = cases.get("huge_attachment")
    if big is not None:
        files = [
            PlantedFile(name=a.file_name, item=big, size=a.size)
            for a in project.attachments(big)
            if a.size > upload_limit
        ]
    return Planted(users=users, files=files, upload_limit=upload_limit)


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def planted_lines(p: Planted) -> list[str]:
    lines = [
        f"[bold]Planted to show how failures look:[/] the generated ADO project holds {p.count} things Jira cannot "
        "take as they are, so this first run ends INCOMPLETE on purpose; the demo then fixes them and runs again."
    ]
    if p.users:
        lines.append(f"  {len(p.users)} ADO users with no Jira account to match:")
        for u in p.users:
            on = f" on ADO #{u.item}" if u.item else ""
            lines.append(escape(f"    {u.display_name} <{u.unique}>{on}: {u.why}"))
    if p.files:
        files = "1 file" if len(p.files) == 1 else f"{len(p.files)} files"
        lines.append(f"  {files} over the Jira site's upload limit of {megabytes(p.upload_limit)}:")
        for f in p.files:
            lines.append(escape(f"    ADO #{f.item} {f.name} ({megabytes(f.size)})"))
    return lines


def failure_line(f: RecordLine, p: Planted) -> str:
    """One failure by its ADO item; a user's by the ADO user (it belongs to no single item), named as ADO does."""
    names = {u.unique: u.display_name for u in p.users}
    if f.ado_id is not None:
        who = f"ADO #{f.ado_id} {f.what}"
    elif f.kind == "user" and f.source_key in names:
        who = f"ADO user {names[f.source_key]} <{f.source_key}>"
    else:
        who = f"ADO {f.what}"
    return escape(f"{who}: {f.error}")


def failure_lines(run_id: str, status: str, failures: list[RecordLine], total: int, p: Planted) -> list[str]:
    planted_ones = [f for f in failures if p.expects(f)]
    others = [f for f in failures if not p.expects(f)]
    failed = "1 failure" if total == 1 else f"{total} failures"
    lines = [f"[bold]Run {run_id} ended {status}[/] with {failed}, each named by its ADO item or user:"]
    if planted_ones:
        lines.append(f"  planted ({len(planted_ones)} of {p.count}):")
        lines += [f"    {failure_line(f, p)}" for f in planted_ones]
    if others:
        lines.append(f"  [yellow]not planted[/] ({len(others)}): the demo's fix may not cover these")
        lines += [f"    {failure_line(f, p)}" for f in others]
    if total > len(failures):
        lines.append(f"  … and {total - len(failures)} more: migrayt failures {run_id}")
    return lines


def next_step_lines(groups: list[ReasonGroup], run_id: str, migration_id: str, web_app: str | None) -> list[str]:
    lines = ["[bold]What to do next[/] (the run page and `migrayt failures` say the same):"]
    lines += [escape(f"  {g.count} × {g.reason}: {g.remedy}") for g in groups]
    mapping = f"the mapping page {web_app}/migrations/{migration_id}/mapping" if web_app else "the mapping page"
    lines += [
        f"  users: pick each one's Jira account on {mapping}, or give a fallback user:",
        f"    migrayt map edit {migration_id} --fallback-user EMAIL && migrayt map approve {migration_id}",
        f"  then re-run (only what failed is tried again): migrayt rerun {run_id}",
    ]
    return lines


def fix_lines(
    p: Planted, fallback_email: str, plan_version: int, migration_id: str, run_id: str, rerun_id: str
) -> list[str]:
    lines = ["[bold]The fix, made the way you would make it:[/]"]
    if p.users:
        lines.append(
            f"  {len(p.users)} unmatched users → the fallback user {fallback_email}: plan version {plan_version} "
            f"saved and approved (as `migrayt map edit {migration_id} --fallback-user {fallback_email}` and "
            f"`migrayt map approve {migration_id}` do)"
        )
    if p.files:
        lines.append(
            f"  the Jira site's upload limit raised to {megabytes(RAISED_UPLOAD_LIMIT)} (a Jira administrator's "
            "change in System › Attachments; here the sandbox Jira's settings)"
        )
    lines.append(f"  re-run {rerun_id} of {run_id} started (as `migrayt rerun {run_id}` does)")
    return lines


def link_lines(links: dict[str, str], keep_running: bool) -> list[str]:
    """Links die with the demo's stack and sandbox: say so, unless the demo stays up."""
    if keep_running:
        head = "[bold]Links[/] (valid until you press Ctrl-C):"
    else:
        head = (
            "[bold]Links[/] (valid while the demo runs, which is now ending; "
            "`migrayt demo --keep-running` keeps them up):"
        )
    width = max(len(name) for name in links)
    return [head] + [escape(f"  {name:<{width}}  {url}") for name, url in links.items()]
