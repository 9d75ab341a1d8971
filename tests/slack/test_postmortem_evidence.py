"""A post-mortem as the reviewing team reads it, from an incident run the way responders run
one: an alert thread from Alertmanager's webhook, declared from its button and acknowledged in
it, status updates, a playbook run and a rollback from the war room (against the fake
Kubernetes API), resolved; the draft then fetched from the API."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import docx

from bot.config import PlatformConfig
from bot.domain.clock import SystemClock
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.kube_api import FakeKubernetes, rolled_out
from tests.harness.alerts import TOKEN, deliver, parents, settled
from tests.harness.commands import ActionWorld, ActionWorlds
from tests.slack.test_alert_actions import click

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
API_TOKEN = "pm-api-token"
INVESTIGATING = "Investigating: 12% of records requests fail since the 1.1 release"
IDENTIFIED = "Root cause: connection pool exhausted after release 1.1"
MONITORING = "Error rate back under 1% after the rollback, monitoring"
RESOLVED = "error rate under 0.5% for 20 minutes"


async def run_the_incident(
    action_world: ActionWorlds,
    platform_config: PlatformConfig,
    kube: FakeKubernetes,
    health_server: str,
) -> tuple[ActionWorld[SystemClock], int]:
    kube.set_image("records-service", "registry.local/records:1.1", change_cause="release 1.1")
    await rolled_out(kube, "records-service")
    config = platform_config.model_copy(deep=True)
    config.playbooks_dir = PLAYBOOKS
    config.health_url_template = health_server + "/{deployment}{path}"
    w = await action_world(
        SystemClock(),
        config=config,
        env={"ALERTMANAGER_TOKEN": TOKEN, "INCIDENT_BOT_API_TOKEN": API_TOKEN},
    )
    w.slack.add_user("U1", "alice", email="alice@example.com")

    await deliver(w.bot, notification("g1", [alert("a1", service="records-service")]))
    await settled(w.bot)
    [parent] = parents(w.slack)
    await click(w.bot, w.slack, "alert_declare", parent, user="U1")
    await click(w.bot, w.slack, "alert_ack", parents(w.slack)[0], user="U5")
    await w.settled()
    [incident] = await w.bot.app[STORE].list_incidents()
    war_room = incident.channel_id
    assert war_room

    async def say(command: str, text: str) -> str:
        answer = await w.command(command, text, channel=war_room)
        await w.settled()
        return answer

    await say("/incident", f"update {INVESTIGATING} --status investigating")
    ran = await say("/incident", "run service-down records")
    assert "service-down" in ran, ran
    await say("/incident", f"update {IDENTIFIED} --status identified")
    await say("/rollback", "records")
    await w.click("action_confirm", w.confirmation(war_room))
    assert ": done" in (await w.finished(war_room)).text
    await say("/incident", f"update {MONITORING} --status monitoring")
    await say("/incident", f"resolve {RESOLVED}")
    return w, incident.id


async def test_the_draft_tells_the_story_with_its_evidence_and_names_people(
    action_world: ActionWorlds,
    platform_config: PlatformConfig,
    kube: FakeKubernetes,
    health_server: str,
) -> None:
    w, incident_id = await run_the_incident(action_world, platform_config, kube, health_server)

    md = await fetch(w, incident_id, "md")
    lines = md.splitlines()
    timeline = [line for line in section(lines, "## Timeline") if line.startswith("- ")]
    # "- 2026-12-04 17:08:43 - acknowledged alert HighErrorRate (erin)": what, and at what time.
    times = {m[2]: m[1] for line in timeline if (m := re.fullmatch(r"- \S+ (\S+) - (.*)", line))}

    # A person leads it, by name, and the story keeps every update in the order told.
    assert "**Incident Commander:** alice" in lines
    updates = [INVESTIGATING, IDENTIFIED.removeprefix("Root cause: "), MONITORING, RESOLVED]
    told = [next(i for i, line in enumerate(timeline) if text in line) for text in updates]
    assert told == sorted(told), timeline
    assert not any(re.search(r"\((U\d+|W\d+)\)$", line) for line in timeline), timeline

    # Each response time says which event it was measured to, at that event's time.
    ack = "acknowledged alert HighErrorRate (erin)"
    rollback = next(t for t in times if t.startswith("Roll back records: done"))
    assert f"(alert acknowledgement in its thread by erin at {times[ack]})" in one(
        lines, "- Time to acknowledge:"
    )
    assert f"(rollback of records by alice at {times[rollback]})" in one(
        lines, "- Time to mitigate:"
    )

    # The evidence the responders saw: the playbook's findings, the rollback's before and
    # after, and the alert group with its firing window.
    runs = "\n".join(section(lines, "### Playbook runs"))
    assert "service-down for records, run by alice: 7 steps, 2 need attention" in runs
    assert "**records** HTTP 503: db pool exhausted" in runs
    assert (
        "records-service=registry.local/records:1.0 → records-service=registry.local/records:1.1"
        in runs
    )
    actions = "\n".join(section(lines, "### Platform actions"))
    assert "asked by alice (confirmed by alice)" in actions
    assert (
        "before: revision 2: records-service=registry.local/records:1.1;"
        " after: revision 1: records-service=registry.local/records:1.0"
    ) in actions
    [group] = [line for line in section(lines, "### Alert groups") if line.startswith("- ")]
    assert group.startswith("- HighErrorRate (group=g1): firing since 2026-03-01 02:00:00 UTC")

    # Word carries the same appendix with the full outputs attached.
    doc = docx.Document(io.BytesIO(await fetch(w, incident_id, "docx", text=False)))
    headings = [
        p.text for p in doc.paragraphs if p.style is not None and p.style.name.startswith("Heading")
    ]
    assert "Appendix: Evidence" in headings
    attached = [h for h in headings if h.startswith("Attachment A")]
    assert any("Last 100 log lines" in h for h in attached), attached
    assert "alice" in "\n".join(p.text for p in doc.paragraphs)


async def fetch(
    w: ActionWorld[SystemClock], incident_id: int, fmt: str, *, text: bool = True
) -> Any:
    async with await w.bot.request(
        "GET",
        f"/api/incidents/{incident_id}/postmortem?format={fmt}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as resp:
        assert resp.status == 200
        return await resp.text() if text else await resp.read()


def section(lines: list[str], heading: str) -> list[str]:
    """The non-empty lines under `heading`, up to the next heading of any level."""
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


def one(lines: list[str], prefix: str) -> str:
    [found] = [line for line in lines if line.startswith(prefix)]
    return found
