"""The post-mortem draft as Markdown, in the runbook's template, with the evidence appendix.

Outside text in the evidence (a step's output, an action's result) goes through the report
renderer, which escapes it once; the draft's own sections are the runbook's plain text.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.evidence import AlertWindow, Evidence, PlatformAction, PlaybookRun
from bot.domain.postmortem import (
    FILL_IN,
    PROMPTS_IMPROVE,
    PROMPTS_WENT_WELL,
    TIME,
    PostMortem,
    commander_line,
    response_lines,
    who,
)
from bot.domain.report import Line, markdown_line, plain_line

# How much of a step's output the summary shows; the rest is in the Word export's attachments.
SUMMARY_LINES = 3


def run_heading(run: PlaybookRun, names: Mapping[str, str]) -> str:
    target = f" for {run.service}" if run.service else ""
    return (
        f"{run.at:{TIME}} {run.playbook}{target}, run by {who(run.actor, names)}:"
        f" {len(run.steps)} steps, {run.attention} need attention"
    )


def step_heading(title: str, outcome: str, seconds: float) -> str:
    return f"[{outcome}] {title} ({seconds:.1f} s)"


def summary_lines(lines: tuple[Line, ...]) -> tuple[tuple[Line, ...], int]:
    """The first lines of a step's output, and how many more there were."""
    return lines[:SUMMARY_LINES], max(0, len(lines) - SUMMARY_LINES)


def action_heading(action: PlatformAction, names: Mapping[str, str]) -> str:
    confirmed = ", ".join(who(c, names) for c in action.confirmed_by)
    by = f" (confirmed by {confirmed})" if confirmed else ""
    return f"{action.at:{TIME}} {action.text}, asked by {who(action.actor, names)}{by}"


def action_facts(action: PlatformAction) -> list[str]:
    facts = [f"outcome: {'done' if action.succeeded else 'failed'}"]
    if action.before or action.after:
        facts.append(f"before: {action.before or '?'}; after: {action.after or '?'}")
    return facts


def alert_window(alert: AlertWindow) -> str:
    start = f"{alert.firing_from:{TIME}} UTC" if alert.firing_from else "an unknown time"
    count = f"{alert.alerts} alert{'s' if alert.alerts != 1 else ''}"
    if alert.firing_until is None:
        return f"{alert.name}: firing since {start}, still firing when drafted ({count})"
    return f"{alert.name}: firing {start} to {alert.firing_until:{TIME}} UTC ({count})"


def plain_summary(lines: tuple[Line, ...]) -> list[str]:
    shown, more = summary_lines(lines)
    return [plain_line(ln) for ln in shown] + ([f"… {more} more lines"] if more else [])


def _md(text: str) -> str:
    return markdown_line(Line((text,)))


def _evidence(evidence: Evidence, names: Mapping[str, str]) -> list[str]:
    out = ["", "## Appendix: Evidence", ""]
    if evidence.empty:
        return [*out, "No playbook ran, no platform action was taken and no alert was linked."]
    out += ["### Playbook runs", ""]
    for run in evidence.runs:
        out.append(f"- {_md(run_heading(run, names))}")
        for step in run.steps:
            shown, more = summary_lines(step.lines)
            out.append(f"  - {_md(step_heading(step.title, step.outcome, step.seconds))}")
            out += [f"    - {markdown_line(ln)}" for ln in shown]
            if more:
                out.append(f"    - … {more} more lines")
            if step.details:
                out.append("    - full output: attached to the Word export")
    if not evidence.runs:
        out.append("- none")
    out += ["", "### Platform actions", ""]
    for action in evidence.actions:
        out.append(f"- {_md(action_heading(action, names))}")
        out += [f"  - {_md(fact)}" for fact in action_facts(action)]
        if action.result:
            out.append(f"  - result: {_md(action.result.splitlines()[0])}")
    if not evidence.actions:
        out.append("- none")
    out += ["", "### Alert groups", ""]
    for alert in evidence.alerts:
        link = f" ([Alertmanager](<{alert.url}>))" if alert.url.startswith("http") else ""
        out.append(f"- {_md(alert_window(alert))}{link}")
    if not evidence.alerts:
        out.append("- none")
    return out


def render_markdown(
    pm: PostMortem, names: Mapping[str, str] | None = None, chart: str | None = None
) -> str:
    """`chart`: the file name of the metrics chart beside the Markdown, when there is one."""
    names = names or {}
    lines = [
        f"# Post-Mortem: {pm.title}",
        "",
        f"**Date:** {pm.date:%Y-%m-%d}  ",
        f"**Duration:** {pm.duration}{' (still open)' if pm.open else ''}  ",
        f"**Severity:** {pm.severity}  ",
        f"**Incident Commander:** {commander_line(pm.commander, names)}",
        "",
        "## Summary",
        pm.summary or FILL_IN,
        "",
        "## Impact",
        f"- Services affected: {', '.join(pm.services) or 'none named'}",
        f"- Duration: {pm.duration}",
        f"- Alerts: {', '.join(pm.alerts) or 'none linked'}",
        f"- Users affected: {FILL_IN}",
        f"- Revenue impact: {FILL_IN}",
        f"- Data loss: {FILL_IN}",
    ]
    if chart is not None:
        lines += ["", f"![Error rate and p95 latency of the affected services]({chart})"]
    times = response_lines(pm.times, names)
    lines += ["", "### Response times", times[0], ""]
    lines += [f"- {line}" for line in times[1:]]
    lines += ["", "## Timeline", "All times UTC.", ""]
    lines += [f"- {e.at:{TIME}} - {e.text} ({who(e.actor, names)})" for e in pm.timeline]
    lines += ["", "## Root Cause"]
    lines += [f"- {cause}" for cause in pm.root_cause] or [FILL_IN]
    lines += ["", "## Resolution"]
    lines += [f"- {e.at:%H:%M:%S} {e.text}" for e in pm.resolution] or [
        "No production change was made through the bot. " + FILL_IN
    ]
    lines += ["", "## Action Items"]
    lines += [
        f"- [ ] {f.text} (Owner: {who(f.owner, names)}, Due: {FILL_IN})" for f in pm.follow_ups
    ] or [f"- [ ] {FILL_IN}"]
    lines += ["", "## Lessons Learned", "", "**What went well?**"]
    lines += [f"- {p}" for p in PROMPTS_WENT_WELL]
    lines += ["", "**What could be improved?**"]
    lines += [f"- {p}" for p in PROMPTS_IMPROVE]
    lines += _evidence(pm.evidence, names)
    return "\n".join(lines) + "\n"
