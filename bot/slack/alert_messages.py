"""What an alert thread says: the parent (always the group's current state), the replies for
each change, and the digest that stands in for new threads during an alert storm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.alerts import Alert, Changes, GroupView
from bot.domain.incident import format_duration
from bot.slack.blocks import (
    Block,
    actions,
    bounded,
    button,
    clip,
    context,
    escape,
    fields,
    header,
    link,
    section,
)

SEVERITY_ICON = {
    "critical": ":red_circle:",
    "page": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
}
MAX_LISTED = 15
DIGEST_LINES = 40


def _headline(view: GroupView) -> str:
    if view.status == "resolved":
        lasted = view.duration_seconds
        after = f" after {format_duration(lasted)}" if lasted is not None else ""
        return f"Resolved{after}: {view.title}"
    return f"Firing [{view.severity}]: {view.title}"


def parent_text(view: GroupView) -> str:
    summary = f" {view.summary}" if view.summary else ""
    # The fallback text is mrkdwn too: an alert named `<!channel>` must not ping anyone.
    return clip(f"{escape(_headline(view))}.{escape(summary)}", 3000)


def parent_blocks(
    view: GroupView,
    group_id: str,
    *,
    acked_by: str | None = None,
    incident: str | None = None,
) -> list[Block]:
    icon = (
        ":large_green_circle:"
        if view.status == "resolved"
        else SEVERITY_ICON.get(view.severity, ":white_circle:")
    )
    blocks: list[Block] = [header(_headline(view))]
    info = [
        ("Status", f"{icon} {view.status}"),
        ("Severity", escape(view.severity)),
        ("Alerts", f"{view.firing} firing, {view.resolved} resolved" + _unseen(view)),
    ]
    if view.services:
        info.append(("Services", ", ".join(view.services)))
    if view.namespace:
        info.append(("Namespace", escape(view.namespace)))
    if view.started_at:
        info.append(
            (
                "Started",
                f"<!date^{int(view.started_at.timestamp())}^{{date_short_pretty}}"
                f" {{time}}|{view.started_at:%Y-%m-%d %H:%M} UTC>",
            )
        )
    blocks.append(fields(info))
    if view.summary:
        blocks.append(section(f"*Summary:* {escape(view.summary)}"))
    if view.description:
        blocks.append(section(f"*Description:* {escape(view.description)}"))
    firing = [a for a in view.alerts if a.status == "firing"]
    if firing:
        blocks.append(section("*Firing:*\n" + _alert_lines(firing)))
    if view.unseen:
        blocks.append(
            context(
                f":grey_question: The last notification left out {view.unseen} alert"
                f"{'s' if view.unseen != 1 else ''} of this group (`max_alerts` on the"
                " receiver): they may still be firing, so this group is not shown resolved."
            )
        )
    if view.links:
        blocks.append(context(" · ".join(link(each.url, each.label) for each in view.links)))
    notes = []
    if acked_by:
        notes.append(f":eyes: Acknowledged by {acked_by}")
    if incident:
        notes.append(f":rotating_light: {incident}")
    if notes:
        blocks.append(context(*notes))
    if view.status == "firing":
        blocks.append(
            actions(
                f"alert-group:{group_id}",
                button("Acknowledge", "alert_ack", group_id, style="primary"),
                button("Declare incident", "alert_declare", group_id, style="danger"),
                button("Silence 1h", "alert_silence", group_id),
                button("Run playbook", "alert_playbook", group_id),
            )
        )
    return bounded(blocks)


def _unseen(view: GroupView) -> str:
    return f", {view.unseen} not shown" if view.unseen else ""


def _alert_line(alert: Alert) -> str:
    detail = alert.labels.get("pod") or alert.labels.get("instance") or alert.fingerprint
    summary = alert.annotations.get("summary", "")
    values = ", ".join(f"{k}={_number(v)}" for k, v in sorted(alert.values.items()))
    return (
        f"• `{escape(alert.name)}` {escape(detail)}"
        + (f": {escape(summary)}" if summary else "")
        + (f" ({escape(values)})" if values else "")
    )


def _number(value: str) -> str:
    """A rule's value as a person reads it: 44.24, not 44.23943737541908."""
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def _alert_lines(alerts: Sequence[Alert]) -> str:
    lines = [_alert_line(a) for a in alerts[:MAX_LISTED]]
    if len(alerts) > MAX_LISTED:
        lines.append(f"…and {len(alerts) - MAX_LISTED} more")
    return "\n".join(lines)


def change_reply(changes: Changes) -> tuple[str, list[Block]]:
    parts: list[str] = []
    if changes.newly_firing:
        n = len(changes.newly_firing)
        parts.append(
            f":fire: {n} alert{'s' if n != 1 else ''} firing:\n"
            + _alert_lines(changes.newly_firing)
        )
    if changes.newly_resolved:
        n = len(changes.newly_resolved)
        parts.append(
            f":white_check_mark: {n} alert{'s' if n != 1 else ''} resolved:\n"
            + _alert_lines(changes.newly_resolved)
        )
    text = "\n".join(parts)
    return clip(text, 3000), [section(p) for p in parts]


def digest(views: Sequence[GroupView]) -> tuple[str, list[Block]]:
    firing = [v for v in views if v.status == "firing"]
    text = (
        f":rotating_light: Alert storm: {len(views)} more alert group"
        f"{'s' if len(views) != 1 else ''} in this channel"
        f" ({len(firing)} firing, {len(views) - len(firing)} resolved)"
    )
    lines = [
        f"• {'[' + escape(v.severity) + '] ' if v.status == 'firing' else ':white_check_mark: '}"
        f"{escape(v.title)}: {v.firing} firing, {v.resolved} resolved"
        + (f" ({', '.join(v.services)})" if v.services else "")
        for v in sorted(views, key=lambda v: (v.status != "firing", v.title))
    ]
    shown = lines[:DIGEST_LINES]
    more = len(lines) - len(shown)
    body = "\n".join(shown) + (f"\n…and {more} more: every alert is in /api/alerts" if more else "")
    blocks: list[Any] = [
        section(text),
        section(body),
        context("Threads resume for new groups once the channel's backlog clears."),
    ]
    return clip(text, 3000), blocks
