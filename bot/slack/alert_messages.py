"""What an alert thread says: the parent (always the group's current state), the replies for
each change, and the digest that stands in for new threads during an alert storm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from bot.domain.alerts import Alert, Changes, GroupView, matchers_text
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
from bot.store.digest_records import DigestLine, DigestPage

SEVERITY_ICON = {
    "critical": ":red_circle:",
    "page": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
}
MAX_LISTED = 15
# A digest line stays short enough that PAGE_LINES of them fit one message's 40,000 characters.
DIGEST_LINE_CHARS = 900
DIGEST_NAME_CHARS = 400


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
        # The view lists a few alerts of a large group and counts the rest.
        total = max(view.firing, len(firing))
        blocks.append(section("*Firing:*\n" + _alert_lines(firing, total)))
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


def _alert_lines(alerts: Sequence[Alert], total: int | None = None) -> str:
    lines = [_alert_line(a) for a in alerts[:MAX_LISTED]]
    count = len(alerts) if total is None else total
    if count > MAX_LISTED:
        lines.append(f"…and {count - MAX_LISTED} more")
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


def _group_url(external_url: str, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's own page for the group: its alerts, filtered by the group's labels."""
    return f"{external_url.rstrip('/')}/#/alerts?filter={quote(matchers_text(group_labels))}"


def digest_line(view: GroupView, group_labels: Mapping[str, str], external_url: str) -> DigestLine:
    """A storm digest's line for one group, named as Alertmanager names it: by its group
    labels (two HighErrorRate groups of different jobs read differently), then severity,
    counts and a link to the group in Alertmanager."""
    name = matchers_text(group_labels) if group_labels else view.title
    state = (
        f"{SEVERITY_ICON.get(view.severity, ':white_circle:')} [{escape(view.severity)}]"
        if view.status == "firing"
        else ":white_check_mark: resolved"
    )
    services = f" ({escape(', '.join(view.services))})" if view.services else ""
    where = f" · {link(_group_url(external_url, group_labels), 'Alertmanager')}"
    text = (
        f"• {state} `{clip(escape(name), DIGEST_NAME_CHARS)}`:"
        f" {view.firing} firing, {view.resolved} resolved{_unseen(view)}{services}"
    )
    text = clip(text, DIGEST_LINE_CHARS)
    # A link cut short would break the line's markup: kept whole, or left out.
    if external_url and group_labels and len(text) + len(where) <= DIGEST_LINE_CHARS:
        text += where
    return DigestLine(view.status, text)


def digest_page(page: DigestPage) -> tuple[str, list[Block]]:
    """One message of a storm digest. The first says the totals; the others continue it. A
    message whose groups all left for their own threads says so instead of going blank."""
    resolved = page.groups - page.firing
    totals = (
        f":rotating_light: Alert storm: {page.groups} alert group"
        f"{'s' if page.groups != 1 else ''} in this channel"
        f" ({page.firing} firing, {resolved} resolved)"
    )
    text = (
        totals if page.page == 0 else f":rotating_light: Alert storm, continued ({page.page + 1})"
    )
    lines = [line for line in page.lines if line]
    blocks: list[Block] = [section(text)]
    blocks += [section(line) for line in lines]
    if not lines:
        blocks.append(context("The groups listed here now have their own threads."))
    if page.page == 0:
        blocks.append(
            context(
                "Each group is listed once, here or in the messages that continue this one;"
                " threads resume for new groups once the channel's backlog clears."
            )
        )
    return clip(text, 3000), bounded(blocks)
