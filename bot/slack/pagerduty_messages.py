"""What a PagerDuty incident's thread says: its parent and a reply per webhook event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    priority = f" [{escape(incident.priority)}]" if incident.priority else ""
    status = escape(incident.status)
    return clip(f"{_name(incident)}{priority} {status}: {escape(incident.title)}", 3000)


def parent_blocks(incident: PagerDutyIncident) -> list[Block]:
    info = [
        (
            "Status",
            f"{STATUS_ICON.get(incident.status, ':white_circle:')} {escape(incident.status)}",
        ),
        ("Urgency", escape(incident.urgency) or "unknown"),
    ]
    if incident.priority:
        info.insert(0, ("Priority", f":label: {escape(incident.priority)}"))
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
    """A reply in words for any V3 event, with what it carries (who, the note, the status
    update, the bridge, the workflow); a type PagerDuty adds later is named in words."""
    kind = event.event_type.removeprefix("incident.")
    data = event.data if isinstance(event.data, Mapping) else {}
    said = _Said(_name(incident), escape(event.agent) if event.agent else "", data)
    render = _EVENTS.get(kind)
    if render is None and event.event_type.startswith("service."):
        render = _service_event
    text = render(said, kind) if render is not None else _unknown(said, kind)
    return clip(text, 3000)


def _text(value: Any) -> str:
    """Outside text from an event's data: a string or number, anything else is nothing."""
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int | float) else ""


def _summary(value: Any, key: str = "summary") -> str:
    """The (unescaped) name of a PagerDuty reference: `{"summary": "Maeve", ...}`."""
    return _text(value.get(key)) if isinstance(value, Mapping) else ""


def _summaries(value: Any) -> str:
    refs = value if isinstance(value, list) else []
    return ", ".join(name for ref in refs if (name := _summary(ref)))


def _in_words(kind: str) -> str:
    """`responder.added` -> `responder added`: an event type as a person would say it."""
    return " ".join(kind.replace(".", " ").replace("_", " ").split())


def _quoted(text: str) -> str:
    """Someone's words as a Slack quote, escaped once."""
    return "\n".join(f"> {line}" for line in escape(text.strip()).splitlines())


@dataclass(frozen=True)
class _Said:
    name: str  # "PagerDuty #42"
    who: str  # the agent, escaped; empty when PagerDuty gave none
    data: Mapping[str, Any]

    @property
    def by(self) -> str:
        return f" by {self.who}" if self.who else ""

    @property
    def actor(self) -> str:
        return self.who or "PagerDuty"

    def field(self, key: str) -> str:
        return escape(_text(self.data.get(key)))

    def ref(self, key: str, name: str = "summary") -> str:
        return escape(_summary(self.data.get(key), name))

    def trimmed(self) -> str:
        """PagerDuty sends at most part of a long note or update, and says so."""
        if self.data.get("trimmed") is not True:
            return ""
        url = _summary(self.data.get("incident"), "html_url")
        where = link(url, "PagerDuty") if url else "PagerDuty"
        return f"\n_(trimmed: the whole text is in {where})_"


def _incident_event(phrase: str) -> Callable[[_Said, str], str]:
    def render(said: _Said, kind: str) -> str:
        return phrase.format(name=said.name, by=said.by, actor=said.actor)

    return render


def _triggered(said: _Said, kind: str) -> str:
    urgency = said.field("urgency") or "unknown"
    return f":rotating_light: {said.name} triggered: {said.field('title')} ({urgency} urgency)"


def _resolved(said: _Said, kind: str) -> str:
    reason = said.data.get("resolve_reason")
    merged = _summary(reason.get("incident")) if isinstance(reason, Mapping) else ""
    into = f" (merged into {escape(merged)})" if merged else ""
    return f":white_check_mark: {said.name} resolved by {said.actor}{into}"


def _unacknowledged(said: _Said, kind: str) -> str:
    return (
        f":warning: {said.name} is unacknowledged again{said.by}: it is triggered and will escalate"
    )


def _escalated(said: _Said, kind: str) -> str:
    to = escape(_summaries(said.data.get("assignees"))) or "the next level"
    return f":arrow_up: {said.name} escalated to {to}"


def _reassigned(said: _Said, kind: str) -> str:
    to = escape(_summaries(said.data.get("assignees"))) or "nobody"
    return f":busts_in_silhouette: {said.name} reassigned to {to}{said.by}"


def _delegated(said: _Said, kind: str) -> str:
    policy = said.ref("escalation_policy") or "another escalation policy"
    assignees = escape(_summaries(said.data.get("assignees")))
    now = f", now with {assignees}" if assignees else ""
    return f":twisted_rightwards_arrows: {said.name} delegated to {policy}{said.by}{now}"


def _priority_updated(said: _Said, kind: str) -> str:
    priority = said.ref("priority")
    if not priority:
        return f":label: {said.name} no longer has a priority (removed{said.by})"
    return f":label: {said.name} priority set to {priority}{said.by}"


def _service_updated(said: _Said, kind: str) -> str:
    service = said.ref("service") or "another service"
    return f":truck: {said.name} moved to service {service}{said.by}"


def _type_changed(said: _Said, kind: str) -> str:
    kind_name = said.ref("incident_type", "name") or "another type"
    return f":card_index: {said.name} changed to incident type {kind_name}{said.by}"


def _title_updated(said: _Said, kind: str) -> str:
    return f":pencil2: {said.name} renamed{said.by} to: {said.field('title')}"


def _urgency_updated(said: _Said, kind: str) -> str:
    return (
        f":rotating_light: {said.name} is now {said.field('urgency') or 'unknown'} urgency{said.by}"
    )


def _annotated(said: _Said, kind: str) -> str:
    note = _quoted(_text(said.data.get("content"))) or "> (empty)"
    return f":memo: Note on {said.name} by {said.actor}:\n{note}{said.trimmed()}"


def _status_update(said: _Said, kind: str) -> str:
    update = _quoted(_text(said.data.get("message"))) or "> (empty)"
    return f":mega: Status update on {said.name} by {said.actor}:\n{update}{said.trimmed()}"


def _responder_added(said: _Said, kind: str) -> str:
    user, policy = said.ref("user"), said.ref("escalation_policy")
    asked = user or policy or "a responder"
    via = f" (through {policy})" if user and policy else ""
    message = _text(said.data.get("message"))
    request = f":\n{_quoted(message)}" if message.strip() else ""
    return f":sos: {said.actor} asked {asked}{via} to help with {said.name}{request}"


def _responder_replied(said: _Said, kind: str) -> str:
    user = said.ref("user") or said.actor
    state = _text(said.data.get("state"))
    if state == "joined":
        return f":raising_hand: {user} joined {said.name} as a responder"
    if state == "declined":
        return f":no_entry_sign: {user} declined to help with {said.name}"
    answer = escape(_in_words(state)) or "replied"
    return f":speech_balloon: {user} answered the request to help with {said.name}: {answer}"


def _conference_bridge(said: _Said, kind: str) -> str:
    numbers = said.data.get("conference_numbers")
    dial = [
        " ".join(part for part in (_text(n.get("label")), _text(n.get("number"))) if part)
        for n in (numbers if isinstance(numbers, list) else [])
        if isinstance(n, Mapping)
    ]
    parts = [f"dial {escape(d)}" for d in dial if d]
    url = _text(said.data.get("conference_url"))
    if url:
        parts.append(link(url, "join the bridge"))
    if not parts:
        return f":telephone_receiver: {said.name} has no conference bridge any more{said.by}"
    return f":telephone_receiver: Conference bridge for {said.name}: {' · '.join(parts)}"


def _field_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(t for v in value if (t := _text(v))) or "(none)"
    return _text(value) or "(cleared)"


def _custom_fields(said: _Said, kind: str) -> str:
    changed = said.data.get("changed_custom_fields")
    pairs = [
        f"{escape(_text(f.get('display_name')) or _text(f.get('name')))}: "
        f"{escape(_field_value(f.get('value')))}"
        for f in (changed if isinstance(changed, list) else [])
        if isinstance(f, Mapping)
    ]
    what = "; ".join(pairs) if pairs else "(no field named)"
    return f":card_file_box: Custom fields of {said.name} changed{said.by}: {what}"


def _workflow(said: _Said, kind: str) -> str:
    workflow = said.data.get("incident_workflow")
    name = _summary(workflow) or _text(said.data.get("summary")) or "a workflow"
    url = _summary(workflow, "html_url")
    shown = link(url, name) if url else escape(name)
    done = "completed" if kind.endswith("completed") else "started"
    trigger = said.ref("workflow_trigger")
    why = f" (trigger: {trigger})" if trigger and done == "started" else ""
    return f":gear: Workflow {shown} {done} on {said.name}{why}"


def _task(said: _Said, kind: str) -> str:
    name = said.field("name") or said.field("summary") or "a task"
    status = said.field("status")
    state = f" ({status})" if status else ""
    what = _in_words(kind.removeprefix("task."))
    return f":ballot_box_with_check: Task {name} {what} on {said.name}{state}"


def _action_invocation(said: _Said, kind: str) -> str:
    action = said.ref("action") or "an automation action"
    state = escape(_in_words(_text(said.data.get("state")))) or _in_words(
        kind.removeprefix("action_invocation.")
    )
    return f":zap: Automation action {action} on {said.name}: {state}"


def _service_event(said: _Said, kind: str) -> str:
    service = escape(_text(said.data.get("summary")) or _text(said.data.get("name")))
    what = _in_words(kind.removeprefix("service."))
    return f":gear: PagerDuty service {service or 'unnamed'} {what}{said.by}"


def _unknown(said: _Said, kind: str) -> str:
    about = said.field("summary") or said.field("message") or said.field("content")
    detail = f": {about}" if about else ""
    return f":information_source: {said.name}: {escape(_in_words(kind))}{said.by}{detail}"


_EVENTS: dict[str, Callable[[_Said, str], str]] = {
    "triggered": _triggered,
    "acknowledged": _incident_event(":eyes: {name} acknowledged by {actor}"),
    "unacknowledged": _unacknowledged,
    "resolved": _resolved,
    "reopened": _incident_event(":repeat: {name} reopened{by}"),
    "escalated": _escalated,
    "reassigned": _reassigned,
    "delegated": _delegated,
    "priority_updated": _priority_updated,
    "service_updated": _service_updated,
    "incident_type.changed": _type_changed,
    "title_updated": _title_updated,
    "urgency_updated": _urgency_updated,
    "annotated": _annotated,
    "status_update_published": _status_update,
    "responder.added": _responder_added,
    "responder.replied": _responder_replied,
    "conference_bridge.updated": _conference_bridge,
    "custom_field_values.updated": _custom_fields,
    "workflow.started": _workflow,
    "workflow.completed": _workflow,
    "task.created": _task,
    "task.updated": _task,
    "task.completed": _task,
    "action_invocation.created": _action_invocation,
    "action_invocation.updated": _action_invocation,
    "action_invocation.terminated": _action_invocation,
}
