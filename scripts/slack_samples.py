"""Slack messages as the bot really builds them, for the Block Kit mock's screenshots
(scripts/screenshots.py) and its tests: an alert thread from an Alertmanager group captured
from the real Alertmanager (tests/fixtures/alertmanager/group-firing.json), summarised and
laid out by the same functions the alert threads use (`bot.domain.alerts.summarize`,
`bot.slack.alert_messages.parent_blocks` and `change_reply`), with the bundled config's
services."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.config import load_platform_config  # noqa: E402
from bot.domain.alerts import Alert, diff, summarize  # noqa: E402
from bot.slack import alert_messages  # noqa: E402
from bot.store.alert_rows import extra_of, group_id_of, sent_alert  # noqa: E402
from scripts.block_kit_mock import Message, Pane  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "alertmanager" / "group-firing.json"
# Who the mentions name in the mock (Slack shows display names, the bot sends user ids).
USERS = {"U0ALICE": "alice"}
# The captured body's Alertmanager listened on a random loopback port; the thread's silence
# link is built from it, so the sample names a host a reader recognises instead.
EXTERNAL_URL = "https://alertmanager.example"
INCIDENT = "Incident #12"  # as alert_threads names a group's incident


def notification(path: Path = FIXTURE) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    body["externalURL"] = EXTERNAL_URL
    return body


def alerts_of(body: dict[str, Any]) -> list[Alert]:
    """The body's alerts as the store reads them back (`bot.store.alert_rows`)."""
    return [sent_alert(a, extra_of(a)) for a in body["alerts"]]


def alert_thread(body: dict[str, Any] | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """(fallback text, blocks) of an alert thread, in order: the parent as it stands once every
    alert of the group fired, its incident was declared and alice acknowledged it; then the
    reply the thread got when the group's second alert started firing after the first was
    posted."""
    body = body or notification()
    config = load_platform_config(None)
    known = {alias: s.name for s in config.services for alias in (s.name, s.deployment)}
    alerts = alerts_of(body)

    def view(shown: list[Alert]) -> Any:
        return summarize(
            body["groupKey"],
            shown,
            common_labels=body["commonLabels"],
            common_annotations=body["commonAnnotations"],
            external_url=body["externalURL"],
            known_services=known,
        )

    now = view(alerts)
    # The bundled config's auto_declare rule (critical in factsway-prod: P1) declares an
    # incident for this group before its thread is posted, and the parent names it.
    parent = alert_messages.parent_blocks(
        now, group_id_of(body["groupKey"]), acked_by="<@U0ALICE>", incident=INCIDENT
    )
    first_posted = {a.fingerprint: a.status for a in alerts[:1]}
    reply = alert_messages.change_reply(diff(first_posted, alerts))
    return [(alert_messages.parent_text(now), parent), reply]


def alert_thread_panes(channel: str = "alerts-prod") -> list[Pane]:
    """The channel with the thread's parent, and the thread open beside it."""
    (_, parent), *replies = alert_thread()
    times = ["9:21 AM", "9:23 AM", "9:24 AM"]
    in_thread = [Message(parent, time=times[0], users=USERS)] + [
        Message(blocks, text=text, time=times[1 + i], users=USERS)
        for i, (text, blocks) in enumerate(replies)
    ]
    return [
        Pane(f"# {channel}", [Message(parent, time=times[0], users=USERS, replies=len(replies))]),
        Pane("Thread", in_thread, subtitle=f"# {channel}", thread=True, replies_after_first=True),
    ]
