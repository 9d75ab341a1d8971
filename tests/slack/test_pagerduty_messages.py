"""What a PagerDuty thread says for each V3 webhook event, from PagerDuty's documented payloads
(tests/fixtures/pagerduty/webhooks): each event in words with what it carries, every span of
outside text escaped once, and an event type PagerDuty adds later still readable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.slack import pagerduty_messages
from bot.store.records import PagerDutyEvent, PagerDutyIncident
from tests.fakes.pagerduty_api import FIXTURES, webhook

DOCUMENTED = sorted(p.stem for p in (FIXTURES / "webhooks").glob("*.json"))


def incident(**changes: Any) -> PagerDutyIncident:
    fields: dict[str, Any] = {
        "id": "PGR0VU2",
        "number": 2,
        "title": "A little bump in the road",
        "status": "triggered",
        "urgency": "high",
        "service": "API Service",
        "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        "incident_key": None,
        "assignees": ("User 123",),
        "version": 1,
        "synced_version": 0,
        "posted_status": None,
        "channel": None,
        "thread_key": None,
    }
    fields.update(changes)
    return PagerDutyIncident(**fields)


def as_stored(body: dict[str, Any]) -> PagerDutyEvent:
    """The event as the store keeps it: the agent's name and the event's data."""
    event = body["event"]
    return PagerDutyEvent(
        id=event["id"],
        incident_id="PGR0VU2",
        event_type=event["event_type"],
        agent=(event["agent"] or {}).get("summary") or "",
        occurred_at=datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
        data=event["data"],
    )


def reply(body: dict[str, Any]) -> str:
    return pagerduty_messages.event_text(incident(), as_stored(body))


def names(refs: list[dict[str, Any]]) -> list[str]:
    return [str(r["summary"]) for r in refs]


# What each documented event carries that the reply must show, read from the payload itself.
CARRIED: dict[str, Callable[[dict[str, Any], str], list[str]]] = {
    "incident.triggered": lambda d, who: [d["title"], d["urgency"]],
    "incident.acknowledged": lambda d, who: [who],
    "incident.unacknowledged": lambda d, who: [],
    "incident.resolved": lambda d, who: [who],
    "incident.reopened": lambda d, who: [who],
    "incident.escalated": lambda d, who: names(d["assignees"]),
    "incident.reassigned": lambda d, who: [*names(d["assignees"]), who],
    "incident.delegated": lambda d, who: [d["escalation_policy"]["summary"], who],
    "incident.priority_updated": lambda d, who: [d["priority"]["summary"], who],
    "incident.service_updated": lambda d, who: [d["service"]["summary"], who],
    "incident.incident_type.changed": lambda d, who: [d["incident_type"]["name"]],
    "incident.annotated": lambda d, who: [d["content"], who],
    "incident.status_update_published": lambda d, who: [d["message"], who],
    "incident.responder.added": lambda d, who: [
        d["user"]["summary"],
        d["message"],
        who,
    ],
    "incident.responder.replied": lambda d, who: [d["user"]["summary"]],
    "incident.conference_bridge.updated": lambda d, who: [
        *(n["number"] for n in d["conference_numbers"]),
        f"<{d['conference_url']}|",
    ],
    "incident.custom_field_values.updated": lambda d, who: [
        text for f in d["changed_custom_fields"] for text in (f["name"], f["value"])
    ],
    "incident.workflow.started": lambda d, who: [
        f"<{d['incident_workflow']['html_url']}|{d['incident_workflow']['summary']}>",
        d["workflow_trigger"]["summary"],
    ],
    "incident.workflow.completed": lambda d, who: [
        f"<{d['incident_workflow']['html_url']}|{d['incident_workflow']['summary']}>"
    ],
    "service.updated": lambda d, who: [d["summary"]],
}


def test_the_corpus_covers_every_event_type_the_bot_knows() -> None:
    assert set(DOCUMENTED) == set(CARRIED)


@pytest.mark.parametrize("event_type", DOCUMENTED)
def test_each_documented_event_is_told_in_words_with_what_it_carries(event_type: str) -> None:
    body = webhook(event_type)
    who = (body["event"]["agent"] or {}).get("summary", "")
    text = reply(body)
    assert event_type not in text  # not the raw type
    for carried in CARRIED[event_type](body["event"]["data"], who):
        assert carried in text, (carried, text)


def test_events_of_one_kind_tell_apart_what_happened() -> None:
    started = reply(webhook("incident.workflow.started"))
    completed = reply(webhook("incident.workflow.completed"))
    added = reply(webhook("incident.responder.added"))
    replied = reply(webhook("incident.responder.replied"))
    assert started != completed
    assert added != replied
    # The bridge's phone number is shown, its URL is a link that names no raw markup.
    bridge = reply(webhook("incident.conference_bridge.updated"))
    assert bridge.count("<") == 1 and bridge.count(">") == 1


def test_a_status_update_keeps_every_line_of_its_text() -> None:
    body = webhook("incident.status_update_published")
    body["event"]["data"]["message"] = "Pods restarted.\nError rate back to baseline."
    text = reply(body)
    assert "Pods restarted." in text and "Error rate back to baseline." in text


def test_a_trimmed_note_says_where_the_rest_is() -> None:
    body = webhook("incident.annotated")
    whole = reply(body)
    body["event"]["data"]["trimmed"] = True
    trimmed = reply(body)
    assert "https://acme.pagerduty.com/incidents/PGR0VU2" in trimmed
    assert "https://acme.pagerduty.com/incidents/PGR0VU2" not in whole


def test_outside_text_is_escaped_once_and_cannot_ping_or_forge_links() -> None:
    note = webhook("incident.annotated")
    note["event"]["data"]["content"] = "<!channel> fixed & deployed <https://evil.example|docs>"
    note["event"]["agent"]["summary"] = "<@U0ADMIN>"
    text = reply(note)
    assert "&lt;!channel&gt; fixed &amp; deployed &lt;https://evil.example|docs&gt;" in text
    assert "&lt;@U0ADMIN&gt;" in text
    assert "<!channel>" not in text and "<@U0ADMIN>" not in text and "&amp;amp;" not in text

    bridge = webhook("incident.conference_bridge.updated")
    bridge["event"]["data"]["conference_url"] = "https://meet.example.com/r|<!here>"
    bridge["event"]["data"]["conference_numbers"] = [{"label": "<!everyone>", "number": "+1"}]
    text = reply(bridge)
    assert "<!here>" not in text and "<!everyone>" not in text
    assert "<https://meet.example.com/r%7C&lt;!here&gt;|" in text

    bridge["event"]["data"]["conference_url"] = "meet.example.com/no-scheme"
    assert "<meet.example.com" not in reply(bridge)  # not a URL: shown as text, not a link


def test_an_event_type_pagerduty_adds_later_is_named_in_words() -> None:
    body = webhook("incident.annotated")
    body["event"]["event_type"] = "incident.postmortem.published"
    body["event"]["data"] = {"type": "incident_postmortem", "summary": "Review on Friday"}
    text = reply(body)
    assert "postmortem published" in text and "Review on Friday" in text
    assert "incident.postmortem.published" not in text
    assert "Tenex Engineer" in text  # who did it


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"message": None, "user": "not a reference", "conference_numbers": "nope"},
        {"changed_custom_fields": [{"name": "tags", "value": ["a", "b"]}, "x"]},
        {"incident_workflow": ["odd"], "trimmed": "yes"},
    ],
)
@pytest.mark.parametrize("event_type", DOCUMENTED)
def test_an_event_with_missing_or_odd_fields_still_reads(
    event_type: str, data: dict[str, Any]
) -> None:
    body = webhook(event_type)
    body["event"]["data"] = data
    text = reply(body)
    assert text.strip() and event_type not in text


def test_the_fixtures_are_the_documented_payloads(tmp_path: Path) -> None:
    # Each file is one delivery as PagerDuty sends it: an `event` with PagerDuty's fields.
    for event_type in DOCUMENTED:
        event = webhook(event_type)["event"]
        assert event["event_type"] == event_type
        assert set(event) == {
            "id",
            "event_type",
            "resource_type",
            "occurred_at",
            "agent",
            "client",
            "data",
        }
        assert event["resource_type"] == event_type.split(".")[0]
