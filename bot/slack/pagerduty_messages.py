"""What a PagerDuty incident's thread says: its parent and a reply per webhook event."""

from __future__ import annotations

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
)
from bot.store.records import PagerDutyEvent, PagerDutyIncident

STATUS_ICON = {
    "triggered": ":red_circle:",
    "acknowledged": ":large_yellow_circle:",
    "resolved": ":large_green_circle:",
}


def _name(incident: PagerDutyIncident) -> str:
    number = f" #{incident.number}" if incident.number else ""
    return f"PagerDuty{number}"


def parent_text(incident: PagerDutyIncident) -> str:
    return clip(f"{_name(incident)} {escape(incident.status)}: {escape(incident.title)}", 3000)


def parent_blocks(incident: PagerDutyIncident) -> list[Block]:
    info = [
        (
            "Status",
            f"{STATUS_ICON.get(incident.status, ':white_circle:')} {escape(incident.status)}",
        ),
        ("Urgency", escape(incident.urgency) or "unknown"),
    ]
    if incident.service:
        info.append(("Service", escape(incident.service)))
    if incident.assignees:
        info.append(("Assigned", escape(", ".join(incident.assignees))))
    blocks: list[Block] = [header(f"{_name(incident)}: {incident.title}"), fields(info)]
    if incident.html_url:
        blocks.append(context(link(incident.html_url, "Open in PagerDuty")))
    if incident.status != "resolved":
        buttons = [button("Resolve", "pd_resolve", incident.id, style="danger")]
        if incident.status != "acknowledged":
            buttons.insert(0, button("Acknowledge", "pd_ack", incident.id, style="primary"))
        blocks.append(actions(f"pd:{incident.id}", *buttons))
    return bounded(blocks)


def event_text(incident: PagerDutyIncident, event: PagerDutyEvent) -> str:
    name = _name(incident)
    who = escape(event.agent) if event.agent else "PagerDuty"
    kind = event.event_type.removeprefix("incident.")
    data = event.data
    assignees = ", ".join(a.get("summary", "") for a in data.get("assignees") or [])
    phrases = {
        "triggered": f":rotating_light: {name} triggered: {escape(incident.title)}"
        f" ({escape(incident.urgency) or 'unknown'} urgency)",
        "acknowledged": f":eyes: {name} acknowledged by {who}",
        "unacknowledged": f":warning: {name} is unacknowledged again (acknowledgement timed out)",
        "resolved": f":white_check_mark: {name} resolved by {who}",
        "reopened": f":repeat: {name} reopened by {who}",
        "escalated": f":arrow_up: {name} escalated to {escape(assignees) or 'the next level'}",
        "reassigned": f":busts_in_silhouette: {name} reassigned to {escape(assignees) or '?'}"
        f" by {who}",
        "annotated": f":memo: Note on {name} by {who}: {escape(str(data.get('content', '')))}",
        "priority_updated": f":label: {name} priority set to "
        f"{escape(str((data.get('priority') or {}).get('summary', 'none')))}"
        f" by {who}",
    }
    return clip(phrases.get(kind, f":information_source: {name}: {escape(event.event_type)}"), 3000)
