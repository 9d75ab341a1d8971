"""Sentry steps: unresolved issues first seen recently, the usual sign of a bad deploy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.report import Code, Line, Link, Mark, line
from bot.integrations.sentry_issues import SentryIssues
from bot.playbooks.model import StepContext, StepOutput

MAX_LISTED = 10
# Warnings and info issues are listed but do not make the step a problem.
PROBLEM_LEVELS = {"fatal", "error"}
LEVEL_MARKS = {"fatal": Mark.ERROR, "error": Mark.ERROR, "warning": Mark.WARNING}


class IssuesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(2, gt=0, le=72)


def _line(issue: dict[str, Any]) -> Line:
    # A link only to Sentry's own permalink; the title is plain text, so it cannot forge one.
    label = issue["shortId"] or issue["project"]
    permalink = issue["permalink"]
    link = Link(permalink, label) if permalink.startswith(("https://", "http://")) else label
    culprit = (" in ", Code(issue["culprit"][:80])) if issue["culprit"] else ()
    return line(
        link,
        f" {issue['title'][:150]}",
        *culprit,
        f": {issue['count']:,} events,"
        f" {issue['userCount']:,} users, first seen {_when(issue['firstSeen'])}",
        mark=LEVEL_MARKS.get(issue["level"], Mark.INFO),
    )


def _when(value: str) -> str:
    try:
        seen = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value or "?"
    return f"{seen.astimezone(UTC):%H:%M} UTC"


async def issues(ctx: StepContext, params: IssuesParams) -> StepOutput:
    sentry: SentryIssues = ctx.need("sentry", "SENTRY_API_TOKEN, SENTRY_ORG, SENTRY_PROJECTS")
    found = await sentry.new_issues(params.hours)
    if not found:
        return StepOutput.of(f"No new unresolved Sentry issues in the last {params.hours:g} hours.")
    serious = [i for i in found if i["level"] in PROBLEM_LEVELS]
    lines = [
        line(
            f"{len(found)} new unresolved issue{'s' if len(found) != 1 else ''}"
            f" in the last {params.hours:g} hours ({len(serious)} errors or fatal):"
        )
    ]
    lines += [_line(i) for i in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(line(f"…and {len(found) - MAX_LISTED} more in the attached list"))
    details = "\n".join(
        f"{i['firstSeen']}  {i['level']:<7} {i['project']:<16} {i['count']:>8} events"
        f" {i['userCount']:>6} users  {i['shortId']}  {i['title']}  ({i['culprit']})"
        f"  {i['permalink']}"
        for i in found
    )
    return StepOutput(tuple(lines), details=details, healthy=not serious)
