"""Property-based tests of the running bot: random text full of Slack markup, sent through
every field a sender controls (alert labels and annotations, PagerDuty incidents, the API's
titles, updates and actors, slash commands, pod events and logs a playbook reads), never makes
the bot send a mention, broadcast or link it did not mean.

Each test starts one bot (with the fake Slack and, where needed, fake Kubernetes) and feeds it
every example in turn; after each, it waits until everything queued reached the fake Slack
and inspects everything recorded there: texts, blocks, topics, bookmarks, ephemeral answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import PlatformConfig, Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, deliver, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot
from tests.harness.slack_markup import LINK_HOSTS, meant, sent, unmeant

# Each example waits for Slack's pacing (one post per second per channel): a few examples
# per test keep a run under a minute, and each method within its rate-limit tier.
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
API_TOKEN = "api-token-fuzz"
PD_SECRET = "pd-secret-fuzz"
NS = "factsway-prod"
# Every `<…>` Slack acts on, aimed at people and places the bot does not know.
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<!subteam^S123|@oncall>",
    "<!date^1|x>",
    "<@U123>",
    "<@W999|boss>",
    "<#C123>",
    "<#C999|general>",
    "<https://evil.example|Reset your password here>",
    "<http://evil.example>",
    "<mailto:x@evil.example|mail>",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "<",
    ">",
    "|",
    "*",
    "_",
    "~",
    "`",
    "```",
    ":rotating_light:",
    "\n",
    " ",
]
hostile = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=6), min_size=1, max_size=6).map(
    "".join
)
# Text a sender must give (a title, an actor): something besides spaces.
given_text = hostile.map(lambda s: s if s.strip() else s + "<!channel>")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def opened(bot: RunningBot, fake: FakeSlack, incident_id: int) -> None:
    """The incident's channel exists and its first message (the last step of opening) is in."""
    store = bot.app[STORE]

    async def done() -> bool:
        incident = await store.get_incident(incident_id)
        return incident is not None and bool(fake.messages.get(incident.channel_id or ""))

    await until(done)
    await settled(bot, timeout=60)


class Checked:
    """What the fake Slack recorded since the last check, checked for unmeant markup."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.actors: list[str] = []
        self._calls = self._responses = 0

    def check(self) -> None:
        new = list(sent(self.fake, calls=self._calls, responses=self._responses))
        self._calls, self._responses = len(self.fake.calls), len(self.fake.responses)
        assert unmeant(new, meant(self.fake, LINK_HOSTS, self.actors)) == []


def slack_settings(make_settings: Callable[..., Settings], fake: FakeSlack, **extra: str) -> Any:
    return make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
        ALERTMANAGER_TOKEN=TOKEN,
        INCIDENT_BOT_API_TOKEN=API_TOKEN,
        PAGERDUTY_WEBHOOK_SECRET=PD_SECRET,
        **extra,
    )


async def api(bot: RunningBot, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with await bot.request("POST", path, json=body, headers=headers) as resp:
        assert resp.status in (200, 201), await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def command(bot: RunningBot, fake: FakeSlack, text: str, channel: str) -> None:
    """`/incident TEXT`, until its answer (in the ack, or through response_url) is in."""
    before = len(fake.responses)
    response = await bot.slack_command(
        "/incident", text, channel_id=channel, response_url=fake.issue_response_url()
    )
    assert response.status == 200
    ack = await response.json() if response.content_length else {}
    for where, said in (("ack", s) for s in _strings(ack)):
        assert unmeant([(where, said)], meant(fake, LINK_HOSTS)) == [], text
    if str(ack.get("text", "")).startswith(":hourglass"):

        async def answered() -> bool:
            return len(fake.responses) > before

        await until(answered)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


async def send_pd(bot: RunningBot, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    signature = hmac.new(PD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={signature}"}
    async with await bot.request("POST", "/webhooks/pagerduty", data=raw, headers=headers) as r:
        assert r.status == 200, await r.text()


PD_STEPS = {"triggered": 0, "acknowledged": 1, "resolved": 2}


def pd_event(n: int, status: str, title: str, agent: str, service: str) -> dict[str, Any]:
    incident = f"PFUZZ{n}"
    return {
        "event": {
            "id": f"EV{n}-{status}",
            "event_type": f"incident.{status}",
            "resource_type": "incident",
            "occurred_at": f"2026-03-01T02:{n % 60:02d}:0{PD_STEPS[status]}Z",
            "agent": {"type": "user_reference", "summary": agent, "id": "PU1"},
            "client": None,
            "data": {
                "id": incident,
                "type": "incident",
                "number": n,
                "status": status,
                "title": title,
                "urgency": "high",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident}",
                "service": {"id": "PSVC", "summary": service, "type": "service_reference"},
                "assignees": [{"id": "PU1", "summary": agent, "type": "user_reference"}],
            },
        }
    }


# -- alerts -------------------------------------------------------------------------------------

groups = itertools.count(1)


@pytest.fixture
async def bot(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
) -> RunningBot:
    return await start_bot(slack_settings(make_settings, fake_slack), platform_config)


@EXAMPLES
@given(
    alertname=given_text,
    summary=hostile,
    description=hostile,
    labels=st.dictionaries(st.sampled_from(["pod", "instance", "team", "x"]), hostile),
    service=st.sampled_from(["records-service", "export"]) | hostile,
    resolver=given_text,
)
async def test_alert_text_declares_and_threads_without_pinging(
    bot: RunningBot,
    fake_slack: FakeSlack,
    alertname: str,
    summary: str,
    description: str,
    labels: dict[str, str],
    service: str,
    resolver: str,
) -> None:
    """A critical alert in the platform's namespace declares an incident by itself (the
    bundled config's auto_declare rule): its thread, the announcement, the war room's topic
    and first message all carry the alert's text."""
    store = bot.app[STORE]
    # An incident left open would take this alert in (auto-declare joins a recent one).
    for stray in await store.list_incidents(open_only=True):
        await api(bot, f"/api/incidents/{stray.id}/resolve", {"summary": "done"})
    await settled(bot, timeout=60)
    checked = Checked(fake_slack)
    checked.actors.append(resolver)
    group = f"{next(groups):012x}"  # a new group each time, even for a repeated example
    one = alert(
        group, severity="critical", alertname=alertname, summary=summary, service=service, **labels
    )
    one["annotations"]["description"] = description
    await deliver(bot, notification(group, [one], alertname=alertname))

    async def declared() -> bool:
        return bool(await store.list_incidents(open_only=True))

    await until(declared)
    [incident] = await store.list_incidents(open_only=True)
    assert incident.declared_by == "alertmanager"
    await opened(bot, fake_slack, incident.id)
    await api(
        bot,
        f"/api/incidents/{incident.id}/resolve",
        {"summary": summary, "actor": resolver},
    )
    await settled(bot, timeout=60)
    checked.check()


# -- the API and PagerDuty ---------------------------------------------------------------------

pd_numbers = itertools.count(1)


@EXAMPLES
@given(
    title=given_text,
    declared_by=given_text,
    description=hostile,
    update=given_text,
    actor=given_text,
    summary=hostile,
    pd_title=given_text,
    pd_agent=given_text,
    pd_service=given_text,
)
async def test_api_and_pagerduty_text_reaches_slack_as_words(
    bot: RunningBot,
    fake_slack: FakeSlack,
    title: str,
    declared_by: str,
    description: str,
    update: str,
    actor: str,
    summary: str,
    pd_title: str,
    pd_agent: str,
    pd_service: str,
) -> None:
    checked = Checked(fake_slack)
    checked.actors += [declared_by, actor]
    incident = await api(
        bot,
        "/api/incidents",
        {"title": title[:200], "declared_by": declared_by, "description": description},
    )
    n = next(pd_numbers)
    await send_pd(bot, pd_event(n, "triggered", pd_title, pd_agent, pd_service))
    await opened(bot, fake_slack, incident["id"])
    path = f"/api/incidents/{incident['id']}"
    await api(bot, f"{path}/updates", {"text": update[:3000], "actor": actor})
    await send_pd(bot, pd_event(n, "acknowledged", pd_title, pd_agent, pd_service))
    await api(bot, f"{path}/resolve", {"summary": summary[:3000], "actor": actor})
    await settled(bot, timeout=60)
    checked.check()


# -- slash commands --------------------------------------------------------------------------


@EXAMPLES
@given(title=given_text, words=hostile, summary=hostile, name=given_text)
async def test_slash_command_text_is_echoed_as_words(
    bot: RunningBot,
    fake_slack: FakeSlack,
    title: str,
    words: str,
    summary: str,
    name: str,
) -> None:
    """Every `/incident` subcommand that repeats what was typed, in the answer and in what
    it posts to the war room and the announcement's thread."""
    checked = Checked(fake_slack)
    store = bot.app[STORE]
    before = {i.id for i in await store.list_incidents()}
    await command(bot, fake_slack, f"declare {title} --sev P3", "C_ALERTS")
    new = [i for i in await store.list_incidents() if i.id not in before]
    if not new:  # the title was refused (a `--` option it carried, say): the answer is checked
        checked.check()
        return
    [incident] = new
    await opened(bot, fake_slack, incident.id)
    room = (await store.get_incident(incident.id) or incident).channel_id
    assert room is not None
    for text in (
        f"update {words}",
        f"action {words} <@U1|alice>",
        "role scribe <@U1|alice>",
        "status",
        "list",
        f"run {name}",
        f"explode{name}",
        f"resolve {summary}",
    ):
        await command(bot, fake_slack, text, room)
    await settled(bot, timeout=60)
    checked.check()


# -- what a playbook reads from Kubernetes ------------------------------------------------------


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubernetes]:
    async with FakeKubernetes(namespace=NS) as fake:
        fake.add_deployment("records-service", image="registry.local/records:1.0")
        yield fake


@pytest.fixture
async def kube_bot(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
    kube: FakeKubernetes,
    tmp_path: Path,
) -> RunningBot:
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "look.yaml").write_text(
        "name: look\ndescription: what the cluster says\nneeds_service: true\nsteps:\n"
        "  - {kind: k8s.pods, title: Pods}\n"
        "  - {kind: k8s.events, title: Events}\n"
        "  - {kind: k8s.logs, title: Logs, params: {tail: 20}}\n"
    )
    config = platform_config.model_copy(deep=True)
    config.playbooks_dir = books
    kubeconfig = str(kube.write_kubeconfig(tmp_path / "kubeconfig"))
    settings = slack_settings(make_settings, fake_slack, KUBECONFIG=kubeconfig)
    return await start_bot(settings, config)


@EXAMPLES
@given(reason=given_text, message=hostile, logs=hostile)
async def test_pod_events_and_logs_in_a_playbook_run_ping_nobody(
    kube_bot: RunningBot,
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
    reason: str,
    message: str,
    logs: str,
) -> None:
    checked = Checked(fake_slack)
    kube.add_event("Deployment", "records-service", reason, message)
    for pod in kube.pods("records-service"):
        kube.set_logs(pod["metadata"]["name"], logs)
    await command(kube_bot, fake_slack, "run look records", "C_ALERTS")
    await settled(kube_bot, timeout=60)
    checked.check()
